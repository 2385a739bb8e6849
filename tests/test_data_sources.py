"""Sources (nasx.data.sources): synthetic counts within range, image-folder layouts and sizes,
and each new refusal as one line with exit 2 in the CLI."""

from __future__ import annotations

import io
import warnings
import zipfile

import numpy as np
import pytest

from nasx import data as D
from nasx.cli.main import main
from nasx.data.sources import MAX_SYNTHETIC_CLASSES
from nasx.errors import DataError

TINY = ["--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
        "--space-opt", "input_size=8", "--batch-size", "8", "--no-store", "--device", "cpu"]


@pytest.mark.parametrize("spec", ["synthetic:-3", "synthetic:0", "synthetic:100000",
                                  f"synthetic:{MAX_SYNTHETIC_CLASSES + 1}", "synthetic:abc"])
def test_synthetic_counts_out_of_range(spec):
    with pytest.raises(DataError, match=f"1..{MAX_SYNTHETIC_CLASSES}"):
        D.load_dataset(spec)
    with pytest.raises(DataError, match=f"1..{MAX_SYNTHETIC_CLASSES}"):
        D.num_classes_of(spec)


@pytest.mark.parametrize("kwargs", [{"num_classes": -3}, {"num_classes": 10**5},
                                    {"n_per_class": 0}, {"size": 0}, {"num_classes": 2.5},
                                    {"num_classes": 1000, "n_per_class": 10**4}])
def test_synthetic_dataset_arguments(kwargs):
    with pytest.raises(DataError, match="synthetic data"):
        D.synthetic_dataset(**kwargs)


def test_synthetic_upper_bound_is_usable():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = D.load_dataset("synthetic:3")
    assert ds.num_classes == 3 and D.num_classes_of(f"synthetic:{MAX_SYNTHETIC_CLASSES}") == 1000


def _touch_images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"not read: the layout is checked first")


def test_empty_class_folder(tmp_path):
    _touch_images(tmp_path / "cat", ["0.png", "1.png"])
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="class folder 'dog' has no images"):
        D.load_dataset(tmp_path)


def test_only_nested_folders(tmp_path):
    _touch_images(tmp_path / "train" / "cat", ["0.png"])
    _touch_images(tmp_path / "train" / "dog", ["0.png"])
    with pytest.raises(DataError, match=r"'train' has no images.*only folders \(cat, dog\)"):
        D.load_dataset(tmp_path)


def _png_folder(root, sizes):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i, s in enumerate(sizes):
            px = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
            Image.fromarray(px).save(root / c / f"{i}.png")
    return root


def test_tiny_images_in_a_folder_are_refused(tmp_path):
    _png_folder(tmp_path / "imgs", [1, 1])
    with pytest.raises(DataError, match="1x1 pixels.*at least 8x8"):
        D.load_dataset(tmp_path / "imgs")
    _png_folder(tmp_path / "mixed", [16, 4])
    with pytest.raises(DataError, match="4x4 pixels"):
        D.load_dataset(tmp_path / "mixed")


def test_mixed_sizes_are_resized_with_a_warning(tmp_path):
    _png_folder(tmp_path / "imgs", [16, 12, 16])
    with pytest.warns(UserWarning, match="2 of 6 images resized to 16x16"):
        ds = D.load_dataset(tmp_path / "imgs")
    assert ds.x.shape == (6, 16, 16, 3)


def _huge_header_npz(tmp):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|u1", "fortran_order": False, "shape": (2**40, 32, 32, 3)})
    y = io.BytesIO()
    np.save(y, np.arange(16) % 4)
    p = tmp / "huge.npz"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("x.npy", buf.getvalue())
        zf.writestr("y.npy", y.getvalue())
    return str(p)


def _npy(tmp):
    np.save(tmp / "x.npy", np.zeros((16, 8, 8, 3), np.uint8))
    return str(tmp / "x.npy")


def _tiny_npz(tmp):
    np.savez(tmp / "t.npz", x=np.zeros((16, 1, 1, 3), np.uint8), y=np.arange(16) % 4)
    return str(tmp / "t.npz")


def _nested_folder(tmp):
    _touch_images(tmp / "imgs" / "train" / "cat", ["0.png"])
    return str(tmp / "imgs")


CLI_CASES = {
    "synthetic:-3": (lambda tmp: "synthetic:-3", "1..1000"),
    "synthetic:100000": (lambda tmp: "synthetic:100000", "1..1000"),
    "huge npz header": (_huge_header_npz, "limit"),
    ".npy file": (_npy, "single .npy"),
    "1x1 images": (_tiny_npz, "at least 8x8"),
    "nested image folder": (_nested_folder, "no images"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_exit_2_one_line(case, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NASX_CACHE_DIR", str(tmp_path / "cache"))
    build, message = CLI_CASES[case]
    code = main(["search", *TINY, "--proxy", "gradalign-i", "--budget", "1",
                 "--data", build(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("nasx: error:")]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err, err
    assert out == ""
