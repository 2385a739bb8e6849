"""Probe data: where images come from, class-balanced probe batches and their fingerprints.

Sources (the ``--data`` flag):

* a ``.npz`` file with ``x`` (uint8 images, NHWC or NCHW) and ``y`` (integer labels);
* a CIFAR-10 or CIFAR-100 *python* folder (``cifar-10-batches-py`` / ``cifar-100-python``,
  the standard distribution), or its ``.tar.gz`` archive;
* an image folder ``root/<class>/<image>`` (needs Pillow: ``pip install nasx[images]``);
* ``cifar10`` / ``cifar100``: the standard dataset from the nasx cache folder, downloaded once
  with checksum verification when online (``download=True`` or ``--download``);
* ``cifar10-probe``: the probe set shipped inside the package (500 real CIFAR-10 training
  images, 50 per class; see ``nasx/_probe/README.md``), checksum-verified on load. It is what
  the engine uses when no data is given (``data=None``), so a first run needs no download;
* ``synthetic``: uniform noise with random labels, an explicit opt-in for smoke runs only;
* ``shape`` / ``shape:<classes>``: no images at all, for data-free proxies (below).

**Data-free scoring.** When no proxy needs images (every one declares ``"none"`` in its
``needs`` and neither ``"data"`` nor ``"labels"``: params, flops, synflow, zen), nothing is
loaded: :func:`shape_batch` gives a batch of one all-zero input of the space's input shape with a
number of classes (10, or ``shape:<classes>``, or that of an explicitly given source), and its
own fingerprint.

**Validation on load.** Images must be finite; uint8 is used as is; other integer types with
values in 0..255 and floats holding only whole numbers in 0..255 are converted to uint8 with a
warning; floats in [0, 1] are scaled by 255 (the usual convention, no warning); any other range
(standardised images, floats a little over 1, int16 values over 255) is an error. Labels must be
integers (floats holding whole numbers are converted with a warning), non-negative, and, without
a ``classes`` list, cover every class 0..max (labels 0, 1000, 2000 would otherwise build a
2001-class head). A probe batch needs at least two classes and at most as many images as the
source has. Unreadable files (empty or truncated ``.npz``, corrupt CIFAR pickles, corrupt
images) raise :class:`~nasx.errors.DataError` naming the file.

A :class:`ProbeBatch` is drawn class-balanced with a seed and carries a fingerprint (a hash of the
exact pixels, labels and preprocessing) that is part of every cache key and report.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tarfile
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError

__all__ = [
    "ProbeDataset",
    "ProbeBatch",
    "load_dataset",
    "draw_batch",
    "cache_dir",
    "download_cifar",
    "synthetic_dataset",
    "shape_batch",
    "needs_images",
    "parse_shape_spec",
    "load_embedded",
    "num_classes_of",
    "embedded_probe_path",
    "EMBEDDED",
    "EMBEDDED_NOTE",
]

#: name of the probe set shipped inside the package (the default probe data)
EMBEDDED = "cifar10-probe"
_EMBEDDED_FILE = Path(__file__).resolve().parent / "_probe" / "cifar10_probe.npz"
#: sha256 of ``nasx/_probe/cifar10_probe.npz`` (built by ``scripts/build_probe_set.py``)
_EMBEDDED_SHA256 = "2c6d7c8a8bfd1ab2fdeb942188026b1959da21d6660270e909c751097cea9d36"
#: what the CLI tells the user once when the embedded set is used by default
EMBEDDED_NOTE = (
    "probe data: the 500-image CIFAR-10 probe set shipped with nasx (no --data given); "
    "pass --data cifar10 --download for the full training set, or --data with your own images"
)

# NAS-Bench-201's normalisation constants (pixel values / 255)
_CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
_CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
_CIFAR100_MEAN = (129.3 / 255, 124.1 / 255, 112.4 / 255)
_CIFAR100_STD = (68.2 / 255, 65.4 / 255, 70.4 / 255)

_CIFAR = {
    "cifar10": {
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "md5": "c58f30108f718f92721af3b95e74349a",
        "folder": "cifar-10-batches-py",
        "archive": "cifar-10-python.tar.gz",
    },
    "cifar100": {
        "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "md5": "eb9058c3a382ffc7106e4002c42a8d85",
        "folder": "cifar-100-python",
        "archive": "cifar-100-python.tar.gz",
    },
}

_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def cache_dir() -> Path:
    """The nasx cache folder: ``$NASX_CACHE_DIR``, else ``$XDG_CACHE_HOME/nasx``, else
    ``~/.cache/nasx``."""
    env = os.environ.get("NASX_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "nasx"


@dataclass(frozen=True)
class ProbeDataset:
    """Images (uint8, NHWC) and labels that probe batches are drawn from."""

    x: np.ndarray
    y: np.ndarray
    num_classes: int
    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    classes: tuple[str, ...] = ()
    synthetic: bool = False

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.x.shape[-1] != 3 or self.x.dtype != np.uint8:
            raise DataError(
                f"{self.name}: images must be uint8 of shape (N, H, W, 3); got "
                f"{self.x.dtype} {self.x.shape}"
            )
        if self.y.shape != (self.x.shape[0],):
            raise DataError(
                f"{self.name}: {self.x.shape[0]} images but labels of shape {self.y.shape}"
            )
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= self.num_classes):
            raise DataError(f"{self.name}: labels must lie in 0..{self.num_classes - 1}")

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class ProbeBatch:
    """A normalised probe batch (torch tensors) with its fingerprint."""

    x: Any  # torch.Tensor, float32, NCHW
    y: Any  # torch.Tensor, int64
    num_classes: int
    fingerprint: str
    source: str
    indices: tuple[int, ...] = field(default=(), repr=False)
    synthetic: bool = False

    def to(self, device: Any) -> ProbeBatch:
        return ProbeBatch(
            self.x.to(device),
            self.y.to(device),
            self.num_classes,
            self.fingerprint,
            self.source,
            self.indices,
            self.synthetic,
        )

    def __len__(self) -> int:
        return int(self.x.shape[0])


# -- loading ----------------------------------------------------------------------------------
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
            ``cifar10``, ``cifar100``, ``synthetic``.
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
        try:
            n = int(low.split(":", 1)[1])
        except ValueError:
            raise DataError(
                f"bad synthetic spec {text!r}; use synthetic or synthetic:<classes>"
            ) from None
        return synthetic_dataset(num_classes=n)
    if low in _CIFAR:
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
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        return _load_cifar_archive(path, train=train)
    if path.is_dir():
        if (path / "data_batch_1").exists() or (path / "test_batch").exists():
            return _load_cifar10_folder(path, train=train)
        if (path / "train").is_file() and (path / "meta").is_file():
            return _load_cifar100_folder(path, train=train)
        for info in _CIFAR.values():
            if (path / info["folder"]).is_dir():
                return load_dataset(path / info["folder"], train=train)
        return _load_image_folder(path, num_classes)
    raise DataError(f"cannot read probe data from {text!r}: unknown file type")


def _dataset_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    flat = x.reshape(-1, 3).astype(np.float64) / 255.0
    mean = tuple(float(v) for v in flat.mean(0))
    std = tuple(float(max(v, 1e-3)) for v in flat.std(0))
    return mean, std


def _to_nhwc(x: np.ndarray, where: str) -> np.ndarray:
    if x.ndim == 3:  # grayscale N,H,W
        x = np.repeat(x[..., None], 3, axis=-1)
    if x.ndim != 4:
        raise DataError(f"{where}: images must be 4-D (N,H,W,C or N,C,H,W); got shape {x.shape}")
    if x.shape[-1] not in (1, 3) and x.shape[1] in (1, 3):
        x = np.transpose(x, (0, 2, 3, 1))
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if x.shape[-1] != 3:
        raise DataError(f"{where}: expected 1 or 3 channels; got shape {x.shape}")
    return np.ascontiguousarray(_to_uint8(x, where))


def _to_uint8(x: np.ndarray, where: str) -> np.ndarray:
    """Validate pixel values and convert them to uint8 (see the module docstring)."""
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer)
                                   or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{where}: images must be uint8 (or integers in 0..255, or floats in "
                        f"[0, 1]); got dtype {x.dtype}")
    if x.size == 0:
        return x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        finite = np.isfinite(x)
        if not finite.all():
            bad = int(x.size - np.count_nonzero(finite))
            raise DataError(f"{where}: {bad} pixel values are NaN or infinite")
    lo, hi = float(x.min()), float(x.max())
    if np.issubdtype(x.dtype, np.floating):
        if lo >= 0.0 and hi <= 1.0:
            return np.round(x.astype(np.float64) * 255.0).astype(np.uint8)
        if lo >= 0.0 and hi <= 255.0 and bool(np.all(x == np.round(x))):
            warnings.warn(f"{where}: float images hold whole numbers in 0..255; read as 8-bit "
                          "pixel values", UserWarning, stacklevel=4)
            return x.astype(np.uint8)
        raise DataError(
            f"{where}: float images must lie in [0, 1] (or hold 8-bit values 0..255); got "
            f"values in [{lo:.4g}, {hi:.4g}]. Standardised (mean/std-normalised) images are "
            "not accepted: pass raw pixels, nasx normalises them itself"
        )
    if lo < 0 or hi > 255:
        raise DataError(f"{where}: {x.dtype} images must hold 8-bit values 0..255; got values "
                        f"in [{int(lo)}, {int(hi)}]")
    warnings.warn(f"{where}: {x.dtype} images converted to uint8 (values in "
                  f"[{int(lo)}, {int(hi)}])", UserWarning, stacklevel=4)
    return x.astype(np.uint8)


def _labels(y: np.ndarray, n_images: int, where: str) -> np.ndarray:
    """Validate labels: integers (whole-number floats converted with a warning), >= 0."""
    y = np.asarray(y).reshape(-1)
    if y.shape[0] != n_images:
        raise DataError(f"{where}: {n_images} images but {y.shape[0]} labels")
    if y.dtype == np.bool_ or not (np.issubdtype(y.dtype, np.integer)
                                   or np.issubdtype(y.dtype, np.floating)):
        raise DataError(f"{where}: labels must be integers; got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{where}: labels must be whole numbers; got float labels such as "
                            f"{y[~(np.isfinite(y) & (y == np.round(y)))][:3].tolist()}")
        warnings.warn(f"{where}: float labels converted to integers", UserWarning, stacklevel=4)
    if y.size and (float(y.min()) < 0 or float(y.max()) > np.iinfo(np.int32).max):
        raise DataError(f"{where}: labels must lie in 0..C-1; got values in "
                        f"[{y.min()}, {y.max()}]")
    return y.astype(np.int64)


def _infer_classes(y: np.ndarray, classes: tuple[str, ...], num_classes: int | None,
                   where: str) -> int:
    """Number of classes: given, else the ``classes`` list, else max label + 1 provided every
    class 0..max has images (gaps mean labels that are not class indices)."""
    if num_classes is not None:
        return int(num_classes)
    if classes:
        return len(classes)
    if not len(y):
        return 0
    n = int(y.max()) + 1
    present = len(np.unique(y))
    if present != n:
        raise DataError(
            f"{where}: labels are not class indices 0..C-1: {present} distinct labels but the "
            f"largest is {n - 1} (that would build a {n}-class output layer). Map them to "
            "0..C-1, or store a 'classes' array with the class names"
        )
    return n


def _load_npz(path: Path, num_classes: int | None, name: str | None = None) -> ProbeDataset:
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
    if not isinstance(raw_x, np.ndarray) or not isinstance(raw_y, np.ndarray):
        raise DataError(f"{path}: 'x' and 'y' must be arrays")
    x = _to_nhwc(raw_x, str(path))
    y = _labels(raw_y, x.shape[0], str(path))
    n = _infer_classes(y, classes, num_classes, str(path))
    if classes and len(classes) == 10 and classes[0].lower() == "airplane":
        mean, std = _CIFAR10_MEAN, _CIFAR10_STD
    else:
        mean, std = _dataset_stats(x)
    return ProbeDataset(x, y, n, name or path.name, mean, std, classes)  # type: ignore[arg-type]


def embedded_probe_path() -> Path:
    """Path of the probe set shipped inside the package."""
    return _EMBEDDED_FILE


def load_embedded() -> ProbeDataset:
    """The embedded CIFAR-10 probe set (500 training images, 50 per class), after checking
    its sha256 against the value recorded when it was built."""
    path = _EMBEDDED_FILE
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise DataError(f"the embedded probe set is missing from this installation ({path}: "
                        f"{exc}); reinstall nasx or pass --data") from exc
    if digest != _EMBEDDED_SHA256:
        raise DataError(f"the embedded probe set {path} is damaged (sha256 {digest[:16]}..., "
                        f"expected {_EMBEDDED_SHA256[:16]}...); reinstall nasx or pass --data")
    return _load_npz(path, None, name=EMBEDDED)


def _unpickle(path: Path, keys: Sequence[bytes] = ()) -> dict[bytes, Any]:
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError, UnicodeDecodeError, MemoryError) as exc:
        raise DataError(f"cannot read CIFAR file {path}: corrupt or not a CIFAR python pickle "
                        f"({type(exc).__name__})") from exc
    if not isinstance(d, dict) or any(k not in d for k in keys):
        raise DataError(f"{path}: not a CIFAR python batch (expected a dict with "
                        f"{[k.decode() for k in keys]})")
    return d


def _cifar_rows_to_nhwc(data: Any, where: Path) -> np.ndarray:
    arr = np.asarray(data)
    if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != 3 * 32 * 32:
        raise DataError(f"{where}: CIFAR 'data' must be uint8 rows of 3072 pixels; got "
                        f"{arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _cifar_labels(labels: Any, n: int, num_classes: int, where: Path) -> np.ndarray:
    try:
        y = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: CIFAR labels are not integers") from exc
    if y.shape[0] != n or (n and (y.min() < 0 or y.max() >= num_classes)):
        raise DataError(f"{where}: CIFAR labels must be {n} values in 0..{num_classes - 1}")
    return y


def _load_cifar10_folder(path: Path, train: bool) -> ProbeDataset:
    files = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    xs, ys = [], []
    for name in files:
        if not (path / name).exists():
            if train and xs:
                continue  # a partial copy still works
            raise DataError(f"{path}: missing CIFAR-10 file {name}")
        d = _unpickle(path / name, (b"data", b"labels"))
        xs.append(_cifar_rows_to_nhwc(d[b"data"], path / name))
        ys.append(_cifar_labels(d[b"labels"], len(xs[-1]), 10, path / name))
    classes: tuple[str, ...] = ()
    if (path / "batches.meta").exists():
        meta = _unpickle(path / "batches.meta")
        classes = _class_names(meta.get(b"label_names", []), 10)
    return ProbeDataset(
        np.concatenate(xs), np.concatenate(ys), 10, "cifar10", _CIFAR10_MEAN, _CIFAR10_STD,
        classes,
    )


def _class_names(names: Any, n: int) -> tuple[str, ...]:
    try:
        out = tuple(c.decode() if isinstance(c, bytes) else str(c) for c in names)
    except (TypeError, UnicodeDecodeError):
        return ()
    return out if len(out) == n else ()


def _load_cifar100_folder(path: Path, train: bool) -> ProbeDataset:
    name = "train" if train else "test"
    if not (path / name).exists():
        raise DataError(f"{path}: missing CIFAR-100 file {name}")
    d = _unpickle(path / name, (b"data", b"fine_labels"))
    classes: tuple[str, ...] = ()
    if (path / "meta").exists():
        meta = _unpickle(path / "meta")
        classes = _class_names(meta.get(b"fine_label_names", []), 100)
    x = _cifar_rows_to_nhwc(d[b"data"], path / name)
    return ProbeDataset(
        x,
        _cifar_labels(d[b"fine_labels"], len(x), 100, path / name),
        100,
        "cifar100",
        _CIFAR100_MEAN,
        _CIFAR100_STD,
        classes,
    )


def _load_cifar_archive(path: Path, train: bool) -> ProbeDataset:
    out = cache_dir() / "extracted" / path.name.split(".")[0]
    marker = out / ".complete"
    if not marker.exists():
        out.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(path, "r:gz") as tar:
                tar.extractall(out, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise DataError(f"cannot extract {path}: {exc}") from exc
        marker.touch()
    for info in _CIFAR.values():
        if (out / info["folder"]).is_dir():
            return load_dataset(out / info["folder"], train=train)
    raise DataError(f"{path}: not a CIFAR-10/100 python archive")


def _load_image_folder(path: Path, num_classes: int | None) -> ProbeDataset:
    class_dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(
            f"{path}: not a CIFAR folder and has no class sub-folders; an image folder must be "
            "laid out as root/<class>/<image>"
        )
    try:
        from PIL import Image
    except ImportError:
        raise DataError(
            "reading an image folder needs Pillow: pip install 'nasx[images]'"
        ) from None
    xs, ys = [], []
    size: tuple[int, int] | None = None
    for label, d in enumerate(class_dirs):
        for f in sorted(d.iterdir()):
            if f.suffix.lower() not in _IMAGE_EXT:
                continue
            try:
                with Image.open(f) as im:
                    im = im.convert("RGB")
                    if size is None:
                        size = im.size
                    elif im.size != size:
                        im = im.resize(size, Image.BILINEAR)
                    xs.append(np.asarray(im, dtype=np.uint8))
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
                raise DataError(f"cannot read image {f}: {type(exc).__name__}: {exc}. Remove "
                                "or replace the file") from exc
            ys.append(label)
    if not xs:
        raise DataError(f"{path}: no images found (extensions {sorted(_IMAGE_EXT)})")
    x = np.stack(xs)
    mean, std = _dataset_stats(x)
    classes = tuple(d.name for d in class_dirs)
    return ProbeDataset(
        x, np.asarray(ys, dtype=np.int64), num_classes or len(class_dirs), path.name,
        mean, std, classes,  # type: ignore[arg-type]
    )


def synthetic_dataset(num_classes: int = 10, n_per_class: int = 64, size: int = 32,
                      seed: int = 0) -> ProbeDataset:
    """Uniform-noise images with labels: for smoke runs only (warns)."""
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


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_cifar(name: str, root: Path | None = None, *, timeout: float = 60.0) -> Path:
    """Download a CIFAR python archive into ``root`` (default: the cache), verify its MD5
    checksum, extract it, and return the extracted folder."""
    if name not in _CIFAR:
        raise DataError(f"unknown dataset {name!r}; downloadable: {sorted(_CIFAR)}")
    info = _CIFAR[name]
    root = Path(root) if root else cache_dir() / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    folder = root / info["folder"]
    if folder.is_dir() and (folder / ".complete").exists():
        return folder
    archive = root / info["archive"]
    if not archive.exists() or _md5(archive) != info["md5"]:
        tmp = archive.with_suffix(".part")
        try:
            with urllib.request.urlopen(info["url"], timeout=timeout) as r, open(tmp, "wb") as f:
                while True:
                    chunk = r.read(1 << 20)
                    if not chunk:
                        break
                    f.write(chunk)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            tmp.unlink(missing_ok=True)
            raise DataError(
                f"cannot download {name} from {info['url']} ({exc}). Offline? Put the "
                f"'{info['folder']}' folder or '{info['archive']}' into {root}, or pass "
                "--data with a .npz file, a CIFAR python folder or an image folder"
            ) from exc
        got = _md5(tmp)
        if got != info["md5"]:
            tmp.unlink(missing_ok=True)
            raise DataError(f"{name}: checksum mismatch (md5 {got}, expected {info['md5']})")
        tmp.replace(archive)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(root, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"cannot extract {archive}: {exc}") from exc
    (folder / ".complete").touch()
    return folder


def _load_named_cifar(name: str, train: bool, download: bool) -> ProbeDataset:
    info = _CIFAR[name]
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


# -- batches ----------------------------------------------------------------------------------
def balanced_indices(
    y: np.ndarray, batch_size: int, num_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of a class-balanced batch: ``batch_size // C`` per class, the remainder spread
    over randomly chosen classes (one extra each). Classes without enough images give what they
    have; the shortfall is filled from other classes."""
    if batch_size <= 0:
        raise DataError(f"batch size must be positive; got {batch_size}")
    if batch_size > len(y):
        raise DataError(f"batch size {batch_size} exceeds the {len(y)} probe images")
    present = [c for c in range(num_classes) if np.any(y == c)]
    if not present:
        raise DataError("probe data has no labelled images")
    if len(present) < 2:
        raise DataError(
            f"probe data has images of one class only (label {present[0]}); label-based proxies "
            "(GradAlign, GradSign, snip, ...) compare classes: give images of at least two classes"
        )
    per = np.full(len(present), batch_size // len(present))
    extra = rng.choice(len(present), size=batch_size % len(present), replace=False)
    per[extra] += 1
    chosen: list[np.ndarray] = []
    leftovers: list[np.ndarray] = []
    for k, c in enumerate(present):
        idx = rng.permutation(np.flatnonzero(y == c))
        chosen.append(idx[: per[k]])
        leftovers.append(idx[per[k]:])
    out = np.concatenate(chosen)
    short = batch_size - len(out)
    if short > 0:
        pool = rng.permutation(np.concatenate(leftovers))
        out = np.concatenate([out, pool[:short]])
    return np.sort(out)


def draw_batch(
    dataset: ProbeDataset,
    batch_size: int = 128,
    seed: int = 0,
    *,
    balanced: bool = True,
    input_size: int | Sequence[int] | None = None,
) -> ProbeBatch:
    """Draw a probe batch (class-balanced by default), normalise it, and fingerprint it.

    Args:
        dataset: the images to draw from.
        batch_size: number of images.
        seed: seed of the draw (independent of the model-initialisation seed).
        balanced: class-balanced (default) or uniform draw.
        input_size: resize to this spatial size (``H`` or ``(H, W)``) when the space expects a
            different resolution (bilinear, antialiased); part of the fingerprint.
    """
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    if balanced:
        idx = balanced_indices(dataset.y, batch_size, dataset.num_classes, rng)
    else:
        if batch_size <= 0:
            raise DataError(f"batch size must be positive; got {batch_size}")
        if batch_size > len(dataset):
            raise DataError(f"batch size {batch_size} exceeds the {len(dataset)} probe images")
        idx = np.sort(rng.choice(len(dataset), size=batch_size, replace=False))
    xb = dataset.x[idx]
    yb = dataset.y[idx]
    x = torch.from_numpy(np.ascontiguousarray(xb)).permute(0, 3, 1, 2).float().div_(255.0)
    size: tuple[int, int] | None = None
    if input_size is not None:
        size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        else:
            size = None
    mean = torch.tensor(dataset.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(dataset.std, dtype=torch.float32).view(1, 3, 1, 1)
    x = ((x - mean) / std).contiguous()
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(xb).tobytes())
    h.update(np.ascontiguousarray(yb, dtype=np.int64).tobytes())
    h.update(repr((dataset.mean, dataset.std, size, dataset.num_classes)).encode())
    if dataset.name == EMBEDDED:  # the shipped set is named in its fingerprint
        h.update(f"{EMBEDDED}:{_EMBEDDED_SHA256}".encode())
    return ProbeBatch(
        x=x,
        y=torch.from_numpy(np.ascontiguousarray(yb, dtype=np.int64)),
        num_classes=dataset.num_classes,
        fingerprint=h.hexdigest()[:16],
        source=dataset.name,
        indices=tuple(int(i) for i in idx),
        synthetic=dataset.synthetic,
    )


# -- data-free scoring ------------------------------------------------------------------------
def needs_images(specs: Sequence[Any]) -> bool:
    """True when any of the (leaf) proxy specs needs real images: every proxy does unless it
    declares ``"none"`` in its ``needs`` and neither ``"data"`` nor ``"labels"``."""
    for spec in specs:
        needs = frozenset(getattr(spec, "needs", ()) or ())
        if "none" not in needs or needs & {"data", "labels"}:
            return True
    return False


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


def shape_batch(input_shape: Sequence[int], num_classes: int = 10) -> ProbeBatch:
    """A shape-only probe batch for data-free proxies: one all-zero input of ``input_shape``
    (C, H, W) and one label 0; the network gets ``num_classes`` outputs. Its fingerprint hashes
    only the shape and the number of classes, so it never equals that of a real batch."""
    import torch

    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise DataError(f"input shape must be (C, H, W) with positive sizes; got {shape}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise DataError(f"number of classes must be a positive integer; got {num_classes!r}")
    fp = hashlib.sha256(repr(("shape-only", shape, num_classes)).encode()).hexdigest()[:16]
    return ProbeBatch(
        x=torch.zeros((1, *shape), dtype=torch.float32),
        y=torch.zeros((1,), dtype=torch.int64),
        num_classes=num_classes,
        fingerprint=fp,
        source=f"shape:{num_classes}",
    )


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
                        "synthetic:<classes>") from None
    if n < 1:
        raise DataError(f"bad synthetic spec {text!r}: classes must be >= 1")
    return n
