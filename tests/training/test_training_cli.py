"""``nasx train`` through its entry function, and a resume after SIGKILL in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nasx.cli.main import main

ARCH = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+"
        "|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|")
REPO = Path(__file__).resolve().parents[2]


def _data(folder: Path, n_per_class: int = 12) -> str:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), n_per_class)
    x = rng.integers(0, 256, (len(y), 8, 8, 3), dtype=np.uint8)
    np.savez(folder / "d.npz", x=x, y=y)
    return str(folder / "d.npz")


def _argv(tmp_path, data, sub, *extra):
    return ["train", "--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
            "--space-opt", "input_size=8", "--protocol", "quick", "--set", "epochs=2",
            "--set", "batch_size=16", "--data", data, "--device", "cpu", "--threads", "1",
            "--checkpoint-dir", str(tmp_path / sub), *extra, ARCH]


def test_train_json_and_table(capsys, tmp_path):
    data = _data(tmp_path)
    store = str(tmp_path / "s.sqlite")
    assert main(_argv(tmp_path, data, "a", "--store", store, "--json")) == 0
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert d["arch"] == ARCH and len(d["history"]) == 2 and 0 <= d["accuracy"] <= 100
    assert d["protocol"]["overrides"] == {"epochs": 2, "batch_size": 16}
    assert set(d["history"][0]) == {"epoch", "train_loss", "train_acc", "eval_loss",
                                    "eval_acc", "lr", "seconds"}
    assert main(_argv(tmp_path, data, "a", "--store", store)) == 0
    out, err = capsys.readouterr()
    assert "held-out accuracy" in out and "stored result" in out


@pytest.mark.parametrize("extra, msg", [
    (["--protocol", "nb210"], "Did you mean 'nb201'"),
    (["--set", "epoch=3"], "unknown protocol field 'epoch'"),
    (["--set", "auxiliary_weight=0.4"], "auxiliary head"),
])
def test_errors_exit_2(capsys, tmp_path, extra, msg):
    data = _data(tmp_path)
    code = main(_argv(tmp_path, data, "e", "--no-store", *extra))
    _, err = capsys.readouterr()
    assert code == 2 and msg in err


def test_plot_writes_a_png(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    data = _data(tmp_path)
    png = tmp_path / "curves.png"
    assert main(_argv(tmp_path, data, "p", "--no-store", "--set", "epochs=1",
                      "--plot", str(png))) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path):
    """Kill the process mid-epoch 2 (SIGKILL, no clean-up at all), run the same command again:
    the final weights equal those of a run never interrupted."""
    data = _data(tmp_path, n_per_class=200)
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def cmd(sub):
        return [sys.executable, "-m", "nasx", *_argv(tmp_path, data, sub, "--no-store",
                                                     "--set", "epochs=3", "--quiet")]

    subprocess.run(cmd("full"), env=env, check=True, capture_output=True, timeout=600)
    proc = subprocess.Popen(cmd("cut"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt = tmp_path / "cut" / "checkpoint.pt"
    deadline = time.time() + 600
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # into epoch 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = torch.load(ckpt, weights_only=True)["epoch"]
    assert first < 3, "the run finished before it was killed; use more data"
    subprocess.run(cmd("cut"), env=env, check=True, capture_output=True, timeout=600)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    b = torch.load(ckpt, weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in a["history"]]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in b["history"]]


def test_search_refine_trains_the_k_best_and_returns_the_best_trained(capsys, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("NASX_CACHE_DIR", str(tmp_path / "cache"))
    data = _data(tmp_path)
    store = str(tmp_path / "s.sqlite")
    argv = ["search", "--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
            "--space-opt", "input_size=8", "--proxy", "params", "--budget", "4",
            "--device", "cpu", "--store", store, "--top-k", "1", "--refine", "2",
            "--refine-protocol", "quick", "--refine-data", data, "--refine-set", "epochs=1",
            "--refine-set", "batch_size=16", "--json", "--quiet"]
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    ref = d["refine"]
    assert len(ref["candidates"]) == 2  # --top-k raised to K
    assert ref["zero_cost_best"] == d["best"]
    accs = [c["accuracy"] for c in ref["candidates"]]
    assert ref["refined_accuracy"] == max(accs)
    assert ref["refined_best"] == ref["candidates"][accs.index(max(accs))]["arch"]
    # the same command again reuses the stored trainings; --export writes the refined pick
    out = tmp_path / "best.pt2"
    assert main([*argv, "--export", str(out)]) == 0
    again = json.loads(capsys.readouterr().out)["refine"]
    assert all(c["cached"] for c in again["candidates"])
    assert again["refined_best"] == ref["refined_best"]
    meta = {"nasx.json": ""}
    torch.export.load(str(out), extra_files=meta)
    assert json.loads(meta["nasx.json"])["arch"] == ref["refined_best"]


@pytest.mark.parametrize("extra, msg", [
    (["--refine", "2"], "--refine needs --refine-data"),
    (["--refine-data", "x.npz"], "need --refine K"),
    (["--refine", "1", "--refine-data", "x.npz", "--refine-protocol", "nb210"],
     "Did you mean 'nb201'"),
])
def test_search_refine_errors_before_scoring(capsys, extra, msg):
    assert main(["search", "--space", "nasbench201", "--proxy", "params", "--budget", "2",
                 "--no-store", *extra]) == 2
    assert msg in capsys.readouterr().err


def test_refine_compares_candidates_on_a_holdout_by_default(tmp_path, monkeypatch):
    from nasx.training import refinement

    seen = []
    monkeypatch.setattr(refinement, "train",
                        lambda *a, **kw: seen.append(kw) or _Fake(len(seen)))
    result = {"space": "nasbench201", "top": [["a", 2.0], ["b", 1.0]]}
    r = refinement.refine(result, 2, "quick", "d.npz")
    assert [kw["eval_split"] for kw in seen] == ["holdout", "holdout"]
    assert r.refined_best == "b"  # the better held-out accuracy wins
    seen.clear()
    refinement.refine(result, 1, "quick", "d.npz", eval_split="test")
    assert seen[0]["eval_split"] == "test"


class _Fake:
    def __init__(self, k: int) -> None:
        self.accuracy = 50.0 + k
        self.cached = False
