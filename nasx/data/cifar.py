"""CIFAR-10 and CIFAR-100 in their *python* distribution: the batch folders
(``cifar-10-batches-py`` / ``cifar-100-python``) and their ``.tar.gz`` archives.
"""

from __future__ import annotations

import pickle
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .batch import ProbeDataset
from .download import CIFAR, cache_dir, file_digest

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


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only what a CIFAR python file holds: dicts, lists, strings,
    bytes, numbers and numpy arrays, dtypes and scalars. Any other global (``os.system``,
    ``builtins.open``, ``eval``, any class) is refused before it is looked up, so loading a
    crafted file runs no code."""

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"refused global {module}.{name}")
        return found


def _reconstruct_array(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's array-pickling constructor, for plain ndarrays only and always empty (the
    pickle's state then sets shape and data; an empty start allocates nothing)."""
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError("only plain numpy arrays may be rebuilt")
    return _NUMPY_RECONSTRUCT(np.ndarray, (0,), dtype)


def _latin1_encode(text: Any, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 writes ``bytes`` into protocol-2 pickles: latin-1 only."""
    if not isinstance(text, str) or encoding.lower().replace("-", "").replace("_", "") not in (
            "latin1", "iso88591"):
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1")


# numpy's own pickling helpers, taken from what numpy itself pickles (no private import)
_NUMPY_RECONSTRUCT = np.ndarray((0,), np.uint8).__reduce__()[0]
_NUMPY_SCALAR = np.int64(0).__reduce__()[0]
_NUMPY_FROMBUFFER = np.zeros(1, np.uint8).__reduce_ex__(5)[0]
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1_encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _reconstruct_array
       for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _NUMPY_SCALAR for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _NUMPY_FROMBUFFER
       for core in ("core", "_core")},
}


def _unpickle(path: Path, keys: Sequence[bytes] = ()) -> dict[bytes, Any]:
    try:
        with open(path, "rb") as f:
            d = _CifarUnpickler(f, encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise DataError(f"cannot read CIFAR file {path}: corrupt or not a CIFAR python pickle "
                        f"({exc}); a CIFAR file holds only arrays, lists and strings") from exc
    except Exception as exc:  # noqa: BLE001 - any failure to parse an untrusted file is bad data
        raise DataError(f"cannot read CIFAR file {path}: corrupt or not a CIFAR python pickle "
                        f"({type(exc).__name__})") from exc
    if not isinstance(d, dict) or any(k not in d for k in keys):
        raise DataError(f"{path}: not a CIFAR python batch (expected a dict with "
                        f"{[k.decode() for k in keys]})")
    return d


def _cifar_rows_to_nhwc(data: Any, where: Path) -> np.ndarray:
    if not isinstance(data, np.ndarray):
        raise DataError(f"{where}: CIFAR 'data' must be a numpy array of uint8 rows of 3072 "
                        f"pixels; got {type(data).__name__}")
    arr = data
    if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != 3 * 32 * 32:
        raise DataError(f"{where}: CIFAR 'data' must be uint8 rows of 3072 pixels; got "
                        f"{arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _cifar_labels(labels: Any, n: int, num_classes: int, where: Path) -> np.ndarray:
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise DataError(f"{where}: CIFAR labels must be a list of integers; got "
                        f"{type(labels).__name__}")
    try:
        raw = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: CIFAR labels are not integers") from exc
    if raw.dtype.kind not in "iu":  # strings, bytes, floats, booleans, mixed lists
        sample = [v.decode("latin-1") if isinstance(v, bytes) else v
                  for v in raw.reshape(-1)[:3].tolist()]
        raise DataError(f"{where}: CIFAR labels must be integers; got {raw.dtype} values such "
                        f"as {sample}")
    y = raw.astype(np.int64).reshape(-1)
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
    """Extract a CIFAR python ``.tar.gz`` into the cache folder (once per archive content) and
    read it.

    The extraction is keyed by the archive's name and the sha256 of its bytes, so another
    archive of the same name is extracted afresh, never served from an earlier extraction. It
    goes into a temporary folder that is renamed into place when complete, so an interrupted
    or concurrent extraction never leaves a partial folder that looks finished.
    """
    try:
        digest = file_digest(path)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    parent = cache_dir() / "extracted"
    out = parent / f"{path.name.split('.')[0]}-{digest[:16]}"
    if not (out / ".complete").exists():
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=parent))
        try:
            with tarfile.open(path, "r:gz") as tar:
                tar.extractall(tmp, filter="data")
            (tmp / ".complete").touch()
            if out.exists():  # an unfinished earlier extraction (no marker)
                shutil.rmtree(out, ignore_errors=True)
            try:
                tmp.rename(out)
            except OSError:  # another process finished the same archive first
                if not (out / ".complete").exists():
                    raise
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise DataError(f"cannot extract {path}: {exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    for info in CIFAR.values():
        if (out / info["folder"]).is_dir():
            return load_cifar_folder(out / info["folder"], train=train)
    raise DataError(f"{path}: not a CIFAR-10/100 python archive (no {CIFAR['cifar10']['folder']} "
                    f"or {CIFAR['cifar100']['folder']} folder inside)")

