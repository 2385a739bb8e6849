"""Checks before and after reading (nasx.data.validate): an .npz array header is checked before
anything is allocated, a lone .npy is named as such, and images smaller than the minimum side
are refused."""

from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pytest

from nasx import data as D
from nasx.data import validate
from nasx.errors import DataError


def _npy_bytes(array=None, *, header=None, payload=b""):
    """An .npy member: a real array, or a header declaring ``header`` followed by ``payload``."""
    buf = io.BytesIO()
    if array is not None:
        np.save(buf, array)
    else:
        np.lib.format.write_array_header_1_0(buf, header)
        buf.write(payload)
    return buf.getvalue()


def _npz(path, **members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(f"{name}.npy", data)
    return path


def _labels(n=16):
    return _npy_bytes(np.arange(n) % 4)


@pytest.mark.parametrize("shape", [(2**40, 32, 32, 3), (10**6, 10**6, 10**3, 3)],
                         ids=["2**40-images", "huge-sides"])
def test_huge_declared_shape_is_refused_before_allocating(tmp_path, shape):
    header = {"descr": "|u1", "fortran_order": False, "shape": shape}
    p = _npz(tmp_path / "huge.npz", x=_npy_bytes(header=header, payload=b"\x00" * 64),
             y=_labels())
    t0 = time.perf_counter()
    with pytest.raises(DataError, match="over the 4.0 GiB limit"):
        D.load_dataset(p)
    assert time.perf_counter() - t0 < 2.0


def test_header_larger_than_stored_data_is_truncated(tmp_path):
    header = {"descr": "<f4", "fortran_order": False, "shape": (1000, 8, 8, 3)}
    p = _npz(tmp_path / "lie.npz", x=_npy_bytes(header=header, payload=b"\x00" * 100),
             y=_labels())
    with pytest.raises(DataError, match="truncated or damaged"):
        D.load_dataset(p)


def test_limit_applies_to_labels_too(tmp_path):
    header = {"descr": "<i8", "fortran_order": False, "shape": (2**62,)}
    x = np.zeros((16, 8, 8, 3), np.uint8)
    p = _npz(tmp_path / "ylie.npz", x=_npy_bytes(x), y=_npy_bytes(header=header))
    with pytest.raises(DataError, match="'y' declares"):
        D.load_dataset(p)


def test_object_arrays_refused(tmp_path):
    x = np.zeros((16, 8, 8, 3), np.uint8)
    buf = io.BytesIO()
    np.save(buf, np.array([object()] * 16, dtype=object), allow_pickle=True)
    p = _npz(tmp_path / "obj.npz", x=_npy_bytes(x), y=buf.getvalue())
    with pytest.raises(DataError, match="Python objects"):
        D.load_dataset(p)


def test_npy_instead_of_npz(tmp_path):
    x = np.zeros((16, 8, 8, 3), np.uint8)
    np.save(tmp_path / "images.npy", x)
    with pytest.raises(DataError, match="single .npy array"):
        D.load_dataset(tmp_path / "images.npy")
    (tmp_path / "named.npz").write_bytes((tmp_path / "images.npy").read_bytes())
    with pytest.raises(DataError, match="single .npy array"):
        D.load_dataset(tmp_path / "named.npz")


def test_check_npz_allows_a_real_file_and_custom_limit(tmp_path):
    x = np.zeros((16, 8, 8, 3), np.uint8)
    np.savez_compressed(tmp_path / "ok.npz", x=x, y=np.arange(16) % 4)
    validate.check_npz(tmp_path / "ok.npz")
    with pytest.raises(DataError, match="limit"):
        validate.check_npz(tmp_path / "ok.npz", max_bytes=1000)
    validate.check_npz(D.embedded_probe_path())


@pytest.mark.parametrize("side", [1, 4, 7])
def test_tiny_images_in_a_file_are_refused(tmp_path, side):
    x = np.random.default_rng(0).integers(0, 256, (16, side, side, 3), dtype=np.uint8)
    np.savez(tmp_path / "tiny.npz", x=x, y=np.arange(16) % 4)
    with pytest.raises(DataError, match=f"{side}x{side} pixels.*at least 8x8"):
        D.load_dataset(tmp_path / "tiny.npz")


def test_minimum_side_is_accepted(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "eight.npz", x=x, y=np.arange(16) % 4)
    ds = D.load_dataset(tmp_path / "eight.npz")
    assert tuple(D.draw_batch(ds, 8, 0, input_size=32).x.shape) == (8, 3, 32, 32)


def test_member_without_npy_suffix_is_checked_too(tmp_path):
    # numpy reads a member named "x" (no suffix) for key "x" as well
    header = {"descr": "|u1", "fortran_order": False, "shape": (2**40, 32, 32, 3)}
    p = tmp_path / "bare.npz"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("x", _npy_bytes(header=header, payload=b"\x00" * 64))
        zf.writestr("y.npy", _labels())
    with pytest.raises(DataError, match="limit"):
        D.load_dataset(p)
    with zipfile.ZipFile(tmp_path / "raw.npz", "w") as zf:
        zf.writestr("x.npy", b"raw bytes, not an array")
        zf.writestr("y.npy", _labels())
    with pytest.raises(DataError, match="must be arrays"):
        D.load_dataset(tmp_path / "raw.npz")
