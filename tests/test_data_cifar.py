"""CIFAR python files (nasx.data.cifar): the real format reads, a crafted pickle runs no code,
labels must be integers, and an archive is extracted per content, not per file name."""

from __future__ import annotations

import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

from nasx import data as D
from nasx.cli.main import main
from nasx.errors import DataError

TINY = ["--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
        "--space-opt", "input_size=8", "--batch-size", "8", "--no-store", "--device", "cpu"]


class _Py2Pickler(pickle._Pickler):
    """Writes ``bytes`` as protocol-2 BINSTRING opcodes, as Python 2's cPickle wrote ``str``:
    the byte layout of the files distributed by the CIFAR authors."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_bytes(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def _original_format(obj) -> bytes:
    import io

    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # numpy 2 names its pickling helpers numpy._core; the original files say numpy.core
    return buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def _batch(n, seed, label_key=b"labels", classes=10):
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"training batch",
            label_key: [int(v) for v in rng.integers(0, classes, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


def _cifar10(folder, dump=_original_format, n=12, seed=0):
    folder.mkdir(parents=True)
    batches = [_batch(n, seed + i) for i in range(6)]
    for i in range(5):
        (folder / f"data_batch_{i + 1}").write_bytes(dump(batches[i]))
    (folder / "test_batch").write_bytes(dump(batches[5]))
    (folder / "batches.meta").write_bytes(dump(
        {b"label_names": [f"class{i}".encode() for i in range(10)], b"num_cases_per_batch": n,
         b"num_vis": 3072}))
    return batches


def _cifar100(folder, dump=_original_format, n=20):
    folder.mkdir(parents=True)
    for name, seed in (("train", 0), ("test", 1)):
        d = _batch(n, seed, b"fine_labels", 100)
        d[b"coarse_labels"] = [v // 5 for v in d[b"fine_labels"]]
        (folder / name).write_bytes(dump(d))
    (folder / "meta").write_bytes(dump(
        {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
         b"coarse_label_names": [f"c{i}".encode() for i in range(20)]}))


@pytest.mark.parametrize("dump", [_original_format, lambda o: pickle.dumps(o, protocol=2),
                                  lambda o: pickle.dumps(o, protocol=4),
                                  lambda o: pickle.dumps(o, protocol=5)],
                         ids=["original", "protocol2", "protocol4", "protocol5"])
def test_real_format_reads(tmp_path, dump):
    batches = _cifar10(tmp_path / "cifar-10-batches-py", dump)
    ds = D.load_dataset(tmp_path)
    want_x = np.concatenate([b[b"data"] for b in batches[:5]])
    np.testing.assert_array_equal(ds.x, want_x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    assert ds.y.tolist() == sum((b[b"labels"] for b in batches[:5]), [])
    assert ds.classes == tuple(f"class{i}" for i in range(10))
    test = D.load_dataset(tmp_path, train=False)
    assert test.y.tolist() == batches[5][b"labels"]
    _cifar100(tmp_path / "c100" / "cifar-100-python", dump)
    ds = D.load_dataset(tmp_path / "c100")
    assert ds.num_classes == 100 and len(ds) == 20 and ds.classes[:2] == ("f0", "f1")


def test_numpy_integer_labels_read(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    d = _batch(12, 0)
    d[b"labels"] = list(np.asarray(d[b"labels"], dtype=np.int64))  # numpy scalars, pickled
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps(d))
    assert D.load_dataset(folder).y.tolist() == [int(v) for v in d[b"labels"]]


class _System:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Open:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _hostile_cifar10_batch(folder, payload):
    folder.mkdir(parents=True)
    d = _batch(12, 0)
    d[b"labels"] = payload
    (folder / "data_batch_1").write_bytes(pickle.dumps(d, protocol=2))


def _hostile_cifar10_meta(folder, payload):
    folder.mkdir(parents=True)
    (folder / "data_batch_1").write_bytes(_original_format(_batch(12, 0)))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": payload}, protocol=2))


def _hostile_cifar100_train(folder, payload):
    _cifar100(folder)
    d = _batch(20, 0, b"fine_labels", 100)
    d[b"data"] = payload
    (folder / "train").write_bytes(pickle.dumps(d, protocol=2))


HOSTILE = {"data_batch_1": _hostile_cifar10_batch, "batches.meta": _hostile_cifar10_meta,
           "cifar100 train": _hostile_cifar100_train}


@pytest.mark.parametrize("payload", [_System, _Open], ids=["os.system", "builtins.open"])
@pytest.mark.parametrize("where", sorted(HOSTILE))
def test_crafted_pickle_runs_no_code(tmp_path, where, payload):
    marker = tmp_path / "marker"
    folder = tmp_path / ("cifar-100-python" if "100" in where else "cifar-10-batches-py")
    HOSTILE[where](folder, payload(marker))
    with pytest.raises(DataError, match="refused global"):
        D.load_dataset(folder)
    assert not marker.exists()


def test_crafted_pickle_cli_exit_2(tmp_path, capsys):
    marker = tmp_path / "marker"
    _hostile_cifar10_batch(tmp_path / "cifar-10-batches-py", _System(marker))
    code = main(["search", *TINY, "--proxy", "gradalign-i", "--budget", "1",
                 "--data", str(tmp_path / "cifar-10-batches-py")])
    err = capsys.readouterr().err
    assert code == 2 and "refused global" in err and "Traceback" not in err
    assert not marker.exists()


@pytest.mark.parametrize("labels", [["cat"] * 12, ["3"] * 12, [b"3"] * 12, [0.0] * 12,
                                    [True] * 12, "0123456789ab"],
                         ids=["words", "digit-strings", "bytes", "floats", "bools", "a-string"])
def test_labels_must_be_integers(tmp_path, labels):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    d = _batch(12, 0)
    d[b"labels"] = labels
    (folder / "data_batch_1").write_bytes(pickle.dumps(d, protocol=2))
    with pytest.raises(DataError, match="labels must be"):
        D.load_dataset(folder)


def _archive(path, labels_seed):
    src = path.parent / f"src-{labels_seed}"
    _cifar10(src / "cifar-10-batches-py", seed=labels_seed)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return path


def test_same_archive_name_other_content_is_extracted_afresh(tmp_path, monkeypatch):
    monkeypatch.setenv("NASX_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _archive(tmp_path / "a" / "cifar-10-python.tar.gz", 0)
    second = _archive(tmp_path / "b" / "cifar-10-python.tar.gz", 100)
    ds1, ds2 = D.load_dataset(first), D.load_dataset(second)
    want2 = sum((_batch(12, 100 + i)[b"labels"] for i in range(5)), [])
    assert ds2.y.tolist() == want2 and ds1.y.tolist() != want2
    assert D.draw_batch(ds1, 8, 0).fingerprint != D.draw_batch(ds2, 8, 0).fingerprint
    # the same content again is served from its extraction, and a rewritten archive is not
    assert D.load_dataset(first).y.tolist() == ds1.y.tolist()
    _archive(tmp_path / "a" / "cifar-10-python.tar.gz", 100)
    assert D.load_dataset(first).y.tolist() == want2


@pytest.mark.parametrize("content", [b"", b"\x1f\x8b\x08\x00garbage", b"not an archive"],
                         ids=["empty", "bad-gzip", "text"])
def test_bad_archive_is_a_data_error(tmp_path, monkeypatch, content):
    monkeypatch.setenv("NASX_CACHE_DIR", str(tmp_path / "cache"))
    p = tmp_path / "cifar-10-python.tar.gz"
    p.write_bytes(content)
    with pytest.raises(DataError, match="cannot extract"):
        D.load_dataset(p)
    assert not [q for q in (tmp_path / "cache" / "extracted").iterdir()]


@pytest.mark.parametrize("data", [[[1, 2], [3]], {"a": 1}, "pixels"], ids=["ragged", "dict", "str"])
def test_data_must_be_an_array(tmp_path, data):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    d = _batch(12, 0)
    d[b"data"] = data
    (folder / "data_batch_1").write_bytes(pickle.dumps(d, protocol=2))
    with pytest.raises(DataError, match="must be a numpy array"):
        D.load_dataset(folder)
