from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import warnings

import numpy as np
import pytest
from conftest import shared_data

from nasx import data as D
from nasx.data import cifar, download
from nasx.errors import DataError


def _write_cifar10(folder, n=40, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(1, 6):
        d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"labels": list(rng.integers(0, 10, n))}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(d))
    (folder / "test_batch").write_bytes(pickle.dumps(
        {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
         b"labels": list(rng.integers(0, 10, n))}))
    (folder / "batches.meta").write_bytes(pickle.dumps(
        {b"label_names": [f"c{i}".encode() for i in range(10)]}))


def test_npz_and_balanced_batch(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (100, 8, 8, 3), dtype=np.uint8)
    y = np.repeat(np.arange(5), 20)
    np.savez(tmp_path / "p.npz", x=x, y=y)
    ds = D.load_dataset(tmp_path / "p.npz")
    assert ds.num_classes == 5 and len(ds) == 100
    b = D.draw_batch(ds, 23, seed=1)
    counts = np.bincount(b.y.numpy(), minlength=5)
    assert counts.sum() == 23 and counts.max() - counts.min() <= 1
    assert tuple(b.x.shape) == (23, 3, 8, 8)
    # normalised with the dataset's own statistics when it is not CIFAR
    assert abs(float(b.x.mean())) < 0.3


def test_npz_nchw_and_float_accepted(tmp_path):
    x = np.random.default_rng(0).random((10, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "f.npz", x=x, y=np.arange(10) % 2)
    ds = D.load_dataset(tmp_path / "f.npz")
    assert ds.x.shape == (10, 8, 8, 3) and ds.x.dtype == np.uint8


def test_npz_missing_arrays(tmp_path):
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="'x' and 'y'"):
        D.load_dataset(tmp_path / "bad.npz")


def test_fingerprint_is_stable_and_sensitive(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = D.synthetic_dataset(num_classes=4, n_per_class=10, size=8)
    a = D.draw_batch(ds, 8, seed=0)
    b = D.draw_batch(ds, 8, seed=0)
    c = D.draw_batch(ds, 8, seed=1)
    d = D.draw_batch(ds, 8, seed=0, input_size=4)
    assert a.fingerprint == b.fingerprint
    assert len({a.fingerprint, c.fingerprint, d.fingerprint}) == 3
    assert tuple(d.x.shape[-2:]) == (4, 4)


def test_synthetic_warns():
    with pytest.warns(UserWarning, match="meaningless on noise"):
        D.load_dataset("synthetic")


def test_cifar10_python_folder_and_archive(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar10(folder)
    ds = D.load_dataset(folder)
    assert ds.num_classes == 10 and len(ds) == 200 and ds.classes[0] == "c0"
    assert ds.mean == cifar.CIFAR10_MEAN
    test = D.load_dataset(folder, train=False)
    assert len(test) == 40
    # the parent folder and a .tar.gz work too
    assert len(D.load_dataset(tmp_path)) == 200
    arch = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(arch, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    monkeypatch.setenv("NASX_CACHE_DIR", str(tmp_path / "cache"))
    assert len(D.load_dataset(arch)) == 200


def test_cifar100_folder(tmp_path):
    f = tmp_path / "cifar-100-python"
    f.mkdir()
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        (f / split).write_bytes(pickle.dumps({
            b"data": rng.integers(0, 256, (30, 3072), dtype=np.uint8),
            b"fine_labels": list(rng.integers(0, 100, 30))}))
    (f / "meta").write_bytes(pickle.dumps({b"fine_label_names": [b"x"] * 100}))
    ds = D.load_dataset(f)
    assert ds.num_classes == 100 and ds.mean == cifar.CIFAR100_MEAN


def test_image_folder(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / c / f"{i}.png")
    ds = D.load_dataset(tmp_path)
    assert ds.classes == ("cat", "dog") and len(ds) == 6


def test_missing_path_lists_alternatives():
    with pytest.raises(DataError, match="synthetic"):
        D.load_dataset("/no/such/probe.npz")


def test_cifar10_offline_message(tmp_path, monkeypatch):
    monkeypatch.setenv("NASX_CACHE_DIR", str(tmp_path))
    with pytest.raises(DataError, match="--download") as e:
        D.load_dataset("cifar10")
    assert ".npz" in str(e.value)


def _fake_urlopen(payload: bytes):
    class R(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    return lambda url, timeout=None: R(payload)


def test_download_verifies_checksum(tmp_path, monkeypatch):
    src = tmp_path / "src" / "cifar-10-batches-py"
    _write_cifar10(src)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    payload = buf.getvalue()
    monkeypatch.setattr(download.urllib.request, "urlopen", _fake_urlopen(payload))
    # wrong checksum: rejected, nothing left behind
    with pytest.raises(DataError, match="checksum mismatch"):
        D.download_cifar("cifar10", tmp_path / "dl")
    assert not list((tmp_path / "dl").glob("*.tar.gz"))
    # the right checksum (patched to the payload's): downloaded, extracted, loaded
    info = dict(download.CIFAR["cifar10"], md5=hashlib.md5(payload).hexdigest())
    monkeypatch.setitem(download.CIFAR, "cifar10", info)
    monkeypatch.setenv("NASX_CACHE_DIR", str(tmp_path / "cache"))
    ds = D.load_dataset("cifar10", download=True)
    assert len(ds) == 200
    assert len(D.load_dataset("cifar10")) == 200  # cached now, no download needed


def test_download_offline(tmp_path, monkeypatch):
    def fail(url, timeout=None):
        raise download.urllib.error.URLError("no network")

    monkeypatch.setattr(download.urllib.request, "urlopen", fail)
    with pytest.raises(DataError, match="Offline"):
        D.download_cifar("cifar100", tmp_path)


def test_real_probe_file():
    path = shared_data("cifar10", "probe_train.npz")
    ds = D.load_dataset(path)
    assert ds.num_classes == 10 and len(ds) == 5000
    b = D.draw_batch(ds, 128, seed=0)
    assert np.bincount(b.y.numpy()).tolist() == [13] * 8 + [12] * 2 or \
        sorted(np.bincount(b.y.numpy()).tolist()) == [12] * 2 + [13] * 8
    # CIFAR-10 normalisation gives roughly zero-mean, unit-std channels
    assert abs(float(b.x.mean())) < 0.2 and 0.8 < float(b.x.std()) < 1.2


def test_batch_too_large():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = D.synthetic_dataset(num_classes=2, n_per_class=3, size=8)
    with pytest.raises(DataError, match="exceeds"):
        D.draw_batch(ds, 7)
