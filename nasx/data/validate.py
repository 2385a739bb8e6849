"""Checks and conversions of probe pixels and labels, shared by every kind of source.

Images must be finite; uint8 is used as is; other integer types with values in 0..255 and
floats holding only whole numbers in 0..255 are converted to uint8 with a warning; floats in
[0, 1] are scaled by 255 (the usual convention, no warning); any other range (standardised
images, floats a little over 1, int16 values over 255) is an error. Labels must be integers
(floats holding whole numbers are converted with a warning), non-negative, and, without a
``classes`` list, cover every class 0..max (labels 0, 1000, 2000 would otherwise build a
2001-class head). Every failure is a :class:`~nasx.errors.DataError` naming the file.

Sizes: images read from a file must be at least :data:`MIN_IMAGE_SIDE` (8) pixels a side, and
no batch resizes smaller images (a 1x1 image blown up to 32x32 is not a probe image). An
``.npz`` array is checked from its header before it is read: its declared size must fit in
:data:`MAX_PROBE_BYTES` (4 GiB) and in the bytes the file holds, so a header claiming a huge
shape is an error, not an allocation.
"""

from __future__ import annotations

import math
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["MAX_PROBE_BYTES", "MIN_IMAGE_SIDE", "check_image_side", "check_npz",
           "dataset_stats", "infer_classes", "to_nhwc", "to_uint8", "validate_labels"]

#: smallest image side (pixels) accepted from a file, and the smallest that a batch resizes
MIN_IMAGE_SIDE = 8
#: largest array (bytes, as declared by its header) read from an ``.npz`` probe file
MAX_PROBE_BYTES = 4 * 2**30

_NPY_MAGIC = b"\x93NUMPY"


def check_image_side(height: int, width: int, where: str) -> None:
    """Refuse images smaller than :data:`MIN_IMAGE_SIDE` pixels a side."""
    if min(height, width) < MIN_IMAGE_SIDE:
        raise DataError(f"{where}: images are {height}x{width} pixels; probe images must be at "
                        f"least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} (smaller ones would be blown "
                        "up to the network's input size)")


def check_npz(path: Path, names: Sequence[str] = ("x", "y", "classes"),
              max_bytes: int = MAX_PROBE_BYTES) -> None:
    """Check an ``.npz`` file before numpy reads it: it is a zip (not a lone ``.npy`` array),
    and each of the arrays ``names`` that it holds declares, in its ``.npy`` header, a size
    within ``max_bytes`` and within the bytes the file stores for it. Nothing is allocated for
    the array data."""
    where = str(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(_NPY_MAGIC))
    except OSError as exc:
        raise DataError(f"cannot read {where}: {exc}") from exc
    if head == _NPY_MAGIC:
        raise DataError(f"{where} is a single .npy array, not an .npz archive: save images and "
                        "labels together with numpy.savez(file, x=images, y=labels)")
    try:
        with zipfile.ZipFile(path) as zf:
            members = set(zf.namelist())
            for name in names:
                # the member numpy reads for ``name``: ``name`` itself, else ``name.npy``
                member = name if name in members else f"{name}.npy"
                if member not in members:
                    continue
                info = zf.getinfo(member)
                if info.file_size > max_bytes:
                    raise DataError(f"{where}: array {name!r} is {_human(info.file_size)}, over "
                                    f"the {_human(max_bytes)} limit for probe data")
                with zf.open(info) as f:
                    if f.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
                        continue  # not an array: numpy gives bytes, refused after reading
                    f.seek(0)
                    shape, dtype = _npy_header(f)
                _check_declared(where, name, shape, dtype, info.file_size, max_bytes)
    except DataError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"cannot read {where}: not a valid .npz file "
                        f"({type(exc).__name__}: {exc})") from exc


def _npy_header(member: object) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    else:  # 2.0; 3.0 differs only in the header's text encoding (utf-8)
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    return tuple(shape), np.dtype(dtype)


def _check_declared(where: str, name: str, shape: tuple[int, ...], dtype: np.dtype,
                    stored: int, max_bytes: int) -> None:
    if any(d < 0 for d in shape):
        raise DataError(f"{where}: array {name!r} declares the impossible shape {shape}")
    if dtype.hasobject:
        raise DataError(f"{where}: array {name!r} holds Python objects (dtype {dtype}); store "
                        "numbers (uint8 images, integer labels), and strings for 'classes'")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > max_bytes:
        raise DataError(f"{where}: array {name!r} declares shape {shape} of {dtype} "
                        f"({_human(nbytes)}), over the {_human(max_bytes)} limit for probe data; "
                        "a probe set needs a few thousand images at most")
    if nbytes > stored:
        raise DataError(f"{where}: array {name!r} declares shape {shape} of {dtype} "
                        f"({nbytes} bytes) but the file stores {stored} bytes for it: truncated "
                        "or damaged .npz")


def _human(nbytes: int) -> str:
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"


def dataset_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation (of pixel values / 255) of NHWC uint8 images;
    a standard deviation is at least 1e-3."""
    flat = x.reshape(-1, 3).astype(np.float64) / 255.0
    mean = tuple(float(v) for v in flat.mean(0))
    std = tuple(float(max(v, 1e-3)) for v in flat.std(0))
    return mean, std


def to_nhwc(x: np.ndarray, where: str) -> np.ndarray:
    """Images as contiguous uint8 NHWC with 3 channels: grayscale (N,H,W) and one-channel images
    are repeated to 3 channels, NCHW is transposed, pixel values go through :func:`to_uint8`."""
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
    return np.ascontiguousarray(to_uint8(x, where))


def to_uint8(x: np.ndarray, where: str) -> np.ndarray:
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


def validate_labels(y: np.ndarray, n_images: int, where: str) -> np.ndarray:
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


def infer_classes(y: np.ndarray, classes: tuple[str, ...], num_classes: int | None,
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
