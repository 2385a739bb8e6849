"""Probe data: where images come from, class-balanced probe batches and their fingerprints.

Sources (the ``--data`` flag):

* a ``.npz`` file with ``x`` (uint8 images, NHWC or NCHW) and ``y`` (integer labels);
* a CIFAR-10 or CIFAR-100 *python* folder (``cifar-10-batches-py`` / ``cifar-100-python``,
  the standard distribution), or its ``.tar.gz`` archive;
* an image folder ``root/<class>/<image>`` (needs Pillow: ``pip install nasx[images]``);
* ``cifar10`` / ``cifar100``: the standard dataset from the nasx cache folder, downloaded once
  with checksum verification when online (``download=True`` or ``--download``);
* ``synthetic``: uniform noise with random labels, an explicit opt-in for smoke runs only.

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
]

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
    if x.dtype != np.uint8:
        if np.issubdtype(x.dtype, np.floating) and x.size and float(np.nanmax(x)) <= 1.0:
            x = np.clip(np.round(x * 255.0), 0, 255)
        x = np.clip(x, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(x)


def _load_npz(path: Path, num_classes: int | None) -> ProbeDataset:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f or "y" not in f:
                raise DataError(f"{path}: an .npz probe file needs arrays 'x' and 'y'; has "
                                f"{sorted(f.files)}")
            x = _to_nhwc(f["x"], str(path))
            y = np.asarray(f["y"]).astype(np.int64).reshape(-1)
            classes = tuple(str(c) for c in f["classes"]) if "classes" in f else ()
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    n = num_classes or (len(classes) if classes else int(y.max()) + 1 if len(y) else 0)
    if classes and len(classes) == 10 and classes[0].lower() == "airplane":
        mean, std = _CIFAR10_MEAN, _CIFAR10_STD
    else:
        mean, std = _dataset_stats(x)
    return ProbeDataset(x, y, n, path.name, mean, std, classes)  # type: ignore[arg-type]


def _unpickle(path: Path) -> dict[bytes, Any]:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def _cifar_rows_to_nhwc(data: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(
        np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    )


def _load_cifar10_folder(path: Path, train: bool) -> ProbeDataset:
    files = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    xs, ys = [], []
    for name in files:
        if not (path / name).exists():
            if train and xs:
                continue  # a partial copy still works
            raise DataError(f"{path}: missing CIFAR-10 file {name}")
        d = _unpickle(path / name)
        xs.append(_cifar_rows_to_nhwc(d[b"data"]))
        ys.append(np.asarray(d[b"labels"], dtype=np.int64))
    classes: tuple[str, ...] = ()
    if (path / "batches.meta").exists():
        meta = _unpickle(path / "batches.meta")
        classes = tuple(c.decode() for c in meta.get(b"label_names", []))
    return ProbeDataset(
        np.concatenate(xs), np.concatenate(ys), 10, "cifar10", _CIFAR10_MEAN, _CIFAR10_STD,
        classes,
    )


def _load_cifar100_folder(path: Path, train: bool) -> ProbeDataset:
    name = "train" if train else "test"
    if not (path / name).exists():
        raise DataError(f"{path}: missing CIFAR-100 file {name}")
    d = _unpickle(path / name)
    classes: tuple[str, ...] = ()
    if (path / "meta").exists():
        meta = _unpickle(path / "meta")
        classes = tuple(c.decode() for c in meta.get(b"fine_label_names", []))
    return ProbeDataset(
        _cifar_rows_to_nhwc(d[b"data"]),
        np.asarray(d[b"fine_labels"], dtype=np.int64),
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
            with Image.open(f) as im:
                im = im.convert("RGB")
                if size is None:
                    size = im.size
                elif im.size != size:
                    im = im.resize(size, Image.BILINEAR)
                xs.append(np.asarray(im, dtype=np.uint8))
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
    return ProbeBatch(
        x=x,
        y=torch.from_numpy(np.ascontiguousarray(yb, dtype=np.int64)),
        num_classes=dataset.num_classes,
        fingerprint=h.hexdigest()[:16],
        source=dataset.name,
        indices=tuple(int(i) for i in idx),
        synthetic=dataset.synthetic,
    )
