"""Probe data validated on load: every bad input gives a DataError (exit 2 and one line in the
CLI) or a documented conversion with a warning, never a traceback or a silently wrong batch."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from nasx import data as D
from nasx.cli.main import main
from nasx.errors import DataError

TINY = ["--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
        "--space-opt", "input_size=8", "--batch-size", "8", "--no-store", "--device", "cpu"]


def _images(n=40, size=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _labels(n=40, classes=4):
    return np.arange(n) % classes


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


# -- each bad input: (builder writing a file under tmp_path, expected message) -------------------
def _empty_npz(tmp):
    p = tmp / "empty.npz"
    p.write_bytes(b"")
    return p


def _truncated_npz(tmp):
    good = _npz(tmp / "good.npz", x=_images(), y=_labels())
    p = tmp / "trunc.npz"
    p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return p


def _garbage_npz(tmp):
    p = tmp / "garbage.npz"
    p.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    return p


def _corrupt_cifar(tmp):
    folder = tmp / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(b"\x80\x04not a pickle at all")
    return folder


def _cifar_wrong_content(tmp):
    folder = tmp / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": [1, 2, 3]}))
    return folder


def _corrupt_image_folder(tmp):
    pytest.importorskip("PIL")
    from PIL import Image

    root = tmp / "imgs"
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(_images(1, seed=k)[0]).save(root / c / f"{k}.png")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    return root


def _nan_images(tmp):
    x = np.random.default_rng(0).random((40, 8, 8, 3)).astype(np.float32)
    x[3, 2, 2, 1] = np.nan
    return _npz(tmp / "nan.npz", x=x, y=_labels())


def _inf_images(tmp):
    x = np.random.default_rng(0).random((40, 8, 8, 3)).astype(np.float32)
    x[0, 0, 0, 0] = np.inf
    return _npz(tmp / "inf.npz", x=x, y=_labels())


def _float_over_one(tmp):
    x = np.random.default_rng(0).random((40, 8, 8, 3)).astype(np.float32) * 1.02
    return _npz(tmp / "over.npz", x=x, y=_labels())


def _standardised(tmp):
    x = np.random.default_rng(0).standard_normal((40, 8, 8, 3)).astype(np.float32)
    return _npz(tmp / "std.npz", x=x, y=_labels())


def _int16_wide(tmp):
    x = np.random.default_rng(0).integers(-300, 1000, (40, 8, 8, 3)).astype(np.int16)
    return _npz(tmp / "i16.npz", x=x, y=_labels())


def _fractional_labels(tmp):
    return _npz(tmp / "flab.npz", x=_images(), y=_labels().astype(np.float64) + 0.5)


def _negative_labels(tmp):
    return _npz(tmp / "neg.npz", x=_images(), y=_labels() - 1)


def _huge_labels(tmp):
    return _npz(tmp / "huge.npz", x=_images(), y=_labels(classes=10) * 1000)


def _one_class(tmp):
    return _npz(tmp / "one.npz", x=_images(), y=np.zeros(40, np.int64))


def _too_few(tmp):
    return _npz(tmp / "few.npz", x=_images(6), y=_labels(6, 2))


def _string_images(tmp):
    return _npz(tmp / "str.npz", x=np.array(["a", "b"]), y=np.array([0, 1]))


BAD = {
    "empty npz": (_empty_npz, "not a valid .npz"),
    "truncated npz": (_truncated_npz, "not a valid .npz"),
    "garbage npz": (_garbage_npz, "not a valid .npz"),
    "corrupt CIFAR folder": (_corrupt_cifar, "corrupt or not a CIFAR"),
    "CIFAR folder with wrong content": (_cifar_wrong_content, "not a CIFAR python batch"),
    "corrupt image": (_corrupt_image_folder, "cannot read image"),
    "NaN images": (_nan_images, "NaN or infinite"),
    "inf images": (_inf_images, "NaN or infinite"),
    "float images over 1": (_float_over_one, r"must lie in \[0, 1\]"),
    "standardised floats": (_standardised, "Standardised"),
    "int16 outside 0..255": (_int16_wide, "8-bit values"),
    "fractional labels": (_fractional_labels, "whole numbers"),
    "negative labels": (_negative_labels, "0..C-1"),
    "labels x1000": (_huge_labels, "not class indices"),
    "one class": (_one_class, "one class"),
    "fewer images than the batch": (_too_few, "exceeds"),
    "string images": (_string_images, "4-D|dtype"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_probe_data_is_a_data_error(case, tmp_path, monkeypatch):
    monkeypatch.setenv("NASX_CACHE_DIR", str(tmp_path / "cache"))
    build, message = BAD[case]
    path = build(tmp_path)
    with pytest.raises(DataError, match=message):
        ds = D.load_dataset(path)
        D.draw_batch(ds, 8, seed=0)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_probe_data_cli_exit_2_one_line(case, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASX_CACHE_DIR", str(tmp_path / "cache"))
    build, message = BAD[case]
    path = build(tmp_path)
    code = main(["search", *TINY, "--proxy", "gradalign-i", "--budget", "1",
                 "--data", str(path)])
    out, err = capsys.readouterr()
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("nasx: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert out == ""


# -- documented conversions (with a warning) -------------------------------------------------
def test_float_images_in_unit_range_are_scaled(tmp_path):
    x = np.random.default_rng(0).random((40, 8, 8, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the usual convention: no warning
        ds = D.load_dataset(_npz(tmp_path / "f.npz", x=x, y=_labels()))
    assert ds.x.dtype == np.uint8
    np.testing.assert_array_equal(ds.x, np.round(x.astype(np.float64) * 255).astype(np.uint8))


def test_whole_number_floats_read_as_pixels_with_warning(tmp_path):
    x = _images().astype(np.float32)
    with pytest.warns(UserWarning, match="whole numbers in 0..255"):
        ds = D.load_dataset(_npz(tmp_path / "f255.npz", x=x, y=_labels()))
    np.testing.assert_array_equal(ds.x, _images())


def test_int16_in_range_converted_with_warning(tmp_path):
    with pytest.warns(UserWarning, match="int16 images converted"):
        ds = D.load_dataset(_npz(tmp_path / "i16.npz", x=_images().astype(np.int16), y=_labels()))
    np.testing.assert_array_equal(ds.x, _images())


def test_whole_float_labels_converted_with_warning(tmp_path):
    with pytest.warns(UserWarning, match="float labels"):
        ds = D.load_dataset(_npz(tmp_path / "fl.npz", x=_images(), y=_labels().astype(float)))
    assert ds.y.dtype == np.int64 and ds.num_classes == 4


def test_label_gaps_allowed_with_a_class_list(tmp_path):
    # with class names the head has len(classes) outputs, whatever labels the sample holds
    y = np.repeat([0, 2, 5], 10)
    ds = D.load_dataset(_npz(tmp_path / "g.npz", x=_images(30), y=y,
                             classes=np.array([f"c{i}" for i in range(6)])))
    assert ds.num_classes == 6
    y_bad = np.repeat([0, 2, 7], 10)
    with pytest.raises(DataError, match="labels must lie in 0..5"):
        D.load_dataset(_npz(tmp_path / "g2.npz", x=_images(30), y=y_bad,
                            classes=np.array([f"c{i}" for i in range(6)])))


def test_labels_x1000_would_have_built_a_huge_head(tmp_path):
    # the exact case of the issue: before validation this built a 9001-class classifier
    p = _huge_labels(tmp_path)
    with pytest.raises(DataError, match="9001-class"):
        D.load_dataset(p)
