"""Where probe images come from: every kind of ``--data`` source, read into a
:class:`~nasx.data.ProbeDataset`.

* a ``.npz`` file with ``x`` (uint8 images, NHWC or NCHW) and ``y`` (integer labels);
* a CIFAR-10 or CIFAR-100 *python* folder (``cifar-10-batches-py`` / ``cifar-100-python``,
  the standard distribution), or its ``.tar.gz`` archive (:mod:`nasx.data.cifar`);
* an image folder ``root/<class>/<image>`` (needs Pillow: ``pip install nasx[images]``);
* ``cifar10`` / ``cifar100``: the standard dataset from the nasx cache folder, downloaded once
  with checksum verification when online (``download=True`` or ``--download``;
  :mod:`nasx.data.download`);
* ``cifar10-probe``: the probe set shipped inside the package (:mod:`nasx.data.embedded`),
  checksum-verified on load. It is what the engine uses when no data is given (``data=None``);
* ``synthetic`` / ``synthetic:<classes>``: uniform noise with random labels, an explicit opt-in
  for smoke runs only (1 to :data:`MAX_SYNTHETIC_CLASSES` classes);
* ``shape`` / ``shape:<classes>``: no images at all, for data-free proxies
  (:func:`nasx.data.shape_batch`).

Pixels and labels are checked and converted by :mod:`nasx.data.validate`. An image folder must
have images directly in every class folder (``root/<class>/<image>``); images of another size than
the first one are resized to it, with a warning naming how many.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from . import embedded
from .batch import ProbeBatch, ProbeDataset
from .cifar import CIFAR10_MEAN, CIFAR10_STD, cifar_folder, load_cifar_archive, load_cifar_folder
from .download import CIFAR, cache_dir, download_cifar
from .embedded import EMBEDDED, EMBEDDED_SHA256
from .validate import (
    MAX_PROBE_BYTES,
    check_image_side,
    check_npz,
    dataset_stats,
    infer_classes,
    to_nhwc,
    validate_labels,
)

__all__ = ["MAX_SYNTHETIC_CLASSES", "load_dataset", "load_embedded", "synthetic_dataset",
           "parse_shape_spec", "num_classes_of"]

#: most classes of ``synthetic:<classes>`` (64 noise images per class)
MAX_SYNTHETIC_CLASSES = 1000

_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def load_dataset(
    source: str | os.PathLike[str] | ProbeDataset,
    *,
    train: bool = True,
    download: bool = False,
    num_classes: int | None = None,
) -> ProbeDataset:
    """Load probe images from a path or a dataset name.

    Args:
        source: a path (``.npz``, CIFAR python folder or archive, image folder) or one of
            ``cifar10``, ``cifar100``, ``cifar10-probe``, ``synthetic``.
        train: use the training split of CIFAR (probe batches come from training data).
        download: allow downloading CIFAR into :func:`cache_dir` when it is not there.
        num_classes: override the number of classes (default: inferred).

    Example:
        >>> ds = load_dataset("synthetic")  # doctest: +SKIP
    """
    if isinstance(source, ProbeDataset):
        return source
    text = str(source)
    low = text.lower()
    if low in ("synthetic", "synthetic:10"):
        return synthetic_dataset(num_classes=num_classes or 10)
    if low.startswith("synthetic:"):
        return synthetic_dataset(num_classes=_synthetic_classes(text))
    if low in CIFAR:
        return _load_named_cifar(low, train=train, download=download)
    if low == EMBEDDED:
        return load_embedded()
    if low == "shape" or low.startswith("shape:"):
        raise DataError(
            f"{text!r} is a shape-only batch (no images); it serves data-free proxies only "
            "(params, flops, synflow, zen); give images for proxies that need them"
        )
    path = Path(text).expanduser()
    if not path.exists():
        raise DataError(
            f"probe data {text!r} not found. Use a .npz file (x uint8 NHWC, y labels), a "
            "CIFAR-10/100 python folder or archive, an image folder (root/<class>/<image>), "
            "'cifar10' / 'cifar100' (downloaded into the cache on request), or 'synthetic' "
            "for smoke runs"
        )
    if path.is_file() and path.suffix == ".npz":
        return _load_npz(path, num_classes)
    if path.is_file() and path.suffix == ".npy":
        raise DataError(f"{text} is a single .npy array; probe data needs images and labels "
                        "together: numpy.savez(file.npz, x=images, y=labels)")
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        return load_cifar_archive(path, train=train)
    if path.is_dir():
        folder = cifar_folder(path)
        if folder is not None:
            return load_cifar_folder(folder, train=train)
        return _load_image_folder(path, num_classes)
    raise DataError(f"cannot read probe data from {text!r}: unknown file type")


def _load_npz(path: Path, num_classes: int | None, name: str | None = None) -> ProbeDataset:
    check_npz(path)  # headers first: nothing is allocated for a bad or absurd array
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise DataError(f"{path}: an .npz probe file needs arrays 'x' and 'y'; has "
                                f"{sorted(f.files)}")
            raw_x, raw_y = f["x"], f["y"]
            classes = tuple(str(c) for c in f["classes"]) if "classes" in f else ()
    except DataError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"cannot read {path}: not a valid .npz file "
                        f"({type(exc).__name__}: {exc})") from exc
    except MemoryError:
        raise DataError(f"{path}: not enough memory to read it; use a smaller probe set (a few "
                        "thousand images are plenty)") from None
    if not isinstance(raw_x, np.ndarray) or not isinstance(raw_y, np.ndarray):
        raise DataError(f"{path}: 'x' and 'y' must be arrays")
    x = to_nhwc(raw_x, str(path))
    check_image_side(x.shape[1], x.shape[2], str(path))
    y = validate_labels(raw_y, x.shape[0], str(path))
    n = infer_classes(y, classes, num_classes, str(path))
    if classes and len(classes) == 10 and classes[0].lower() == "airplane":
        mean, std = CIFAR10_MEAN, CIFAR10_STD
    else:
        mean, std = dataset_stats(x)
    return ProbeDataset(x, y, n, name or path.name, mean, std, classes)  # type: ignore[arg-type]


def load_embedded() -> ProbeDataset:
    """The embedded CIFAR-10 probe set (500 training images, 50 per class), after checking
    its sha256 against the value recorded when it was built."""
    path = embedded.embedded_probe_path()
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise DataError(f"the embedded probe set is missing from this installation ({path}: "
                        f"{exc}); reinstall nasx or pass --data") from exc
    if digest != EMBEDDED_SHA256:
        raise DataError(f"the embedded probe set {path} is damaged (sha256 {digest[:16]}..., "
                        f"expected {EMBEDDED_SHA256[:16]}...); reinstall nasx or pass --data")
    return _load_npz(path, None, name=EMBEDDED)


def _image_folder_layout(path: Path) -> list[tuple[Path, list[Path]]]:
    """The class folders of ``root/<class>/<image>`` and their image files, checked: every
    class folder holds images directly (no empty classes, no deeper layouts)."""
    class_dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(
            f"{path}: not a CIFAR folder and has no class sub-folders; an image folder must be "
            "laid out as root/<class>/<image>"
        )
    layout = []
    for d in class_dirs:
        files = sorted(f for f in d.iterdir()
                       if f.is_file() and f.suffix.lower() in _IMAGE_EXT)
        if not files:
            subs = sorted(p.name for p in d.iterdir() if p.is_dir())
            inside = (f"it holds only folders ({', '.join(subs[:3])}"
                      f"{', ...' if len(subs) > 3 else ''}); pass the folder that holds the "
                      "class folders" if subs else "remove the folder or add its images")
            raise DataError(f"{path}: class folder {d.name!r} has no images (extensions "
                            f"{sorted(_IMAGE_EXT)}); {inside}")
        layout.append((d, files))
    return layout


def _load_image_folder(path: Path, num_classes: int | None) -> ProbeDataset:
    layout = _image_folder_layout(path)
    try:
        from PIL import Image
    except ImportError:
        raise DataError(
            "reading an image folder needs Pillow: pip install 'nasx[images]'"
        ) from None
    xs, ys = [], []
    size: tuple[int, int] | None = None
    resized = 0
    total = sum(len(files) for _, files in layout)
    for label, (_, files) in enumerate(layout):
        for f in files:
            try:
                with Image.open(f) as im:
                    im = im.convert("RGB")
                    if size is None:
                        size = im.size
                        check_image_side(size[1], size[0], str(f))
                    elif im.size != size:
                        check_image_side(im.size[1], im.size[0], str(f))
                        im = im.resize(size, Image.BILINEAR)
                        resized += 1
                    xs.append(np.asarray(im, dtype=np.uint8))
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
                raise DataError(f"cannot read image {f}: {type(exc).__name__}: {exc}. Remove "
                                "or replace the file") from exc
            ys.append(label)
    if resized and size is not None:
        warnings.warn(f"{path}: {resized} of {total} images resized to {size[0]}x{size[1]} "
                      "pixels (the size of the first image)", UserWarning, stacklevel=3)
    x = np.stack(xs)
    mean, std = dataset_stats(x)
    classes = tuple(d.name for d, _ in layout)
    return ProbeDataset(
        x, np.asarray(ys, dtype=np.int64), num_classes or len(layout), path.name,
        mean, std, classes,  # type: ignore[arg-type]
    )


def synthetic_dataset(num_classes: int = 10, n_per_class: int = 64, size: int = 32,
                      seed: int = 0) -> ProbeDataset:
    """Uniform-noise images with labels: for smoke runs only (warns).

    Args:
        num_classes: 1 to :data:`MAX_SYNTHETIC_CLASSES`.
        n_per_class: images per class (>= 1).
        size: image side in pixels (>= 1).
        seed: seed of the noise.
    """
    for what, v, lo, hi in (("classes", num_classes, 1, MAX_SYNTHETIC_CLASSES),
                            ("images per class", n_per_class, 1, None),
                            ("image size", size, 1, None)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo or (
                hi is not None and v > hi):
            allowed = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise DataError(f"synthetic data: {what} must be an integer in {allowed}; got {v!r}")
    if num_classes * n_per_class * size * size * 3 > MAX_PROBE_BYTES:
        raise DataError(f"synthetic data: {num_classes} x {n_per_class} images of {size}x{size} "
                        "pixels exceed the probe-data size limit; use fewer or smaller images")
    warnings.warn(
        "synthetic probe data: data-dependent proxies are meaningless on noise; use real "
        "images for any result you report",
        UserWarning,
        stacklevel=3,
    )
    rng = np.random.default_rng(seed)
    n = num_classes * n_per_class
    x = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    y = np.repeat(np.arange(num_classes, dtype=np.int64), n_per_class)
    return ProbeDataset(x, y, num_classes, f"synthetic:{num_classes}", (0.5,) * 3, (0.289,) * 3,
                        synthetic=True)


def _load_named_cifar(name: str, train: bool, download: bool) -> ProbeDataset:
    info = CIFAR[name]
    root = cache_dir() / "datasets"
    folder = root / info["folder"]
    if folder.is_dir():
        return load_dataset(folder, train=train)
    if (root / info["archive"]).exists() or download:
        return load_dataset(download_cifar(name, root), train=train)
    raise DataError(
        f"{name} is not in the cache ({folder}). Pass --download (or download=True) to fetch it "
        f"with checksum verification, put the '{info['folder']}' folder there, or use --data "
        "with a .npz file, a CIFAR python folder/archive, or an image folder"
    )


def parse_shape_spec(text: str) -> int | None:
    """``shape`` -> 10, ``shape:<classes>`` -> classes; anything else -> None."""
    low = text.strip().lower()
    if low == "shape":
        return 10
    if not low.startswith("shape:"):
        return None
    try:
        n = int(low.split(":", 1)[1])
    except ValueError:
        n = 0
    if n < 1:
        raise DataError(f"bad shape spec {text!r}; use shape or shape:<classes> (classes >= 1)")
    return n


def num_classes_of(source: Any, *, download: bool = False) -> int:
    """Number of classes of a probe source, without loading images when the name says it
    (``None`` and ``shape`` -> 10, ``shape:N`` / ``synthetic:N`` -> N, ``cifar10``,
    ``cifar10-probe`` -> 10, ``cifar100`` -> 100); other sources are loaded."""
    if source is None:
        return 10
    if isinstance(source, (ProbeDataset, ProbeBatch)):
        return int(source.num_classes)
    text = str(source).strip()
    low = text.lower()
    n = parse_shape_spec(low)
    if n is not None:
        return n
    named = {"cifar10": 10, EMBEDDED: 10, "cifar100": 100, "synthetic": 10}
    if low in named:
        return named[low]
    if low.startswith("synthetic:"):
        return _synthetic_classes(text)
    return load_dataset(source, download=download).num_classes


def _synthetic_classes(text: str) -> int:
    try:
        n = int(text.split(":", 1)[1])
    except ValueError:
        raise DataError(f"bad synthetic spec {text!r}; use synthetic or "
                        f"synthetic:<classes> (1..{MAX_SYNTHETIC_CLASSES})") from None
    if not 1 <= n <= MAX_SYNTHETIC_CLASSES:
        raise DataError(f"bad synthetic spec {text!r}: classes must be in "
                        f"1..{MAX_SYNTHETIC_CLASSES}")
    return n
