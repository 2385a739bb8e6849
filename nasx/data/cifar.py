"""CIFAR-10 and CIFAR-100 in their *python* distribution: the batch folders
(``cifar-10-batches-py`` / ``cifar-100-python``) and their ``.tar.gz`` archives.
"""

from __future__ import annotations

import pickle
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .batch import ProbeDataset
from .download import CIFAR, cache_dir

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "CIFAR100_MEAN", "CIFAR100_STD", "cifar_folder",
           "load_cifar_archive", "load_cifar_folder"]

# NAS-Bench-201's normalisation constants (pixel values / 255)
CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
CIFAR100_MEAN = (129.3 / 255, 124.1 / 255, 112.4 / 255)
CIFAR100_STD = (68.2 / 255, 65.4 / 255, 70.4 / 255)


def cifar_folder(path: Path) -> Path | None:
    """The CIFAR python folder at ``path`` (the folder itself, or its ``cifar-10-batches-py`` /
    ``cifar-100-python`` sub-folder), or None when ``path`` holds no CIFAR files."""
    if (path / "data_batch_1").exists() or (path / "test_batch").exists():
        return path
    if (path / "train").is_file() and (path / "meta").is_file():
        return path
    for info in CIFAR.values():
        if (path / info["folder"]).is_dir():
            return path / info["folder"]
    return None


def load_cifar_folder(path: Path, train: bool = True) -> ProbeDataset:
    """Read a CIFAR-10 or CIFAR-100 python folder (training or test split)."""
    if (path / "data_batch_1").exists() or (path / "test_batch").exists():
        return _load_cifar10_folder(path, train)
    if (path / "train").is_file() and (path / "meta").is_file():
        return _load_cifar100_folder(path, train)
    raise DataError(f"{path}: not a CIFAR python folder (CIFAR-10 has data_batch_1..5 and "
                    "test_batch, CIFAR-100 has train, test and meta)")


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
        np.concatenate(xs), np.concatenate(ys), 10, "cifar10", CIFAR10_MEAN, CIFAR10_STD,
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
        CIFAR100_MEAN,
        CIFAR100_STD,
        classes,
    )


def load_cifar_archive(path: Path, train: bool = True) -> ProbeDataset:
    """Extract a CIFAR python ``.tar.gz`` into the cache folder (once) and read it."""
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
    for info in CIFAR.values():
        if (out / info["folder"]).is_dir():
            return load_cifar_folder(out / info["folder"], train=train)
    raise DataError(f"{path}: not a CIFAR-10/100 python archive")
