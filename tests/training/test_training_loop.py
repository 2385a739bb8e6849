"""Training one network: results, store, resume after a kill, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nasx.errors import ConfigError, DataError
from nasx.events import TrainProgress
from nasx.store import open_store
from nasx.training import refine, train, trained_accuracies

ARCH = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+"
        "|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|")
ARCH2 = ("|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+"
         "|skip_connect~0|none~1|nor_conv_3x3~2|")
TINY = {"C": 8, "N": 1, "input_size": 8}
FAST = {"epochs": 3, "batch_size": 16, "eval_batch_size": 64}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 14)
    x = (rng.integers(0, 128, (len(y), 8, 8, 3)) + 40 * y[:, None, None, None]).astype(np.uint8)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x=x, y=y)
    return str(path)


def _train(data, tmp_path, sub, **kw):
    args = {"protocol": "quick", "data": data, "space_opts": TINY, "device": "cpu",
            "threads": 1, "store": False, "checkpoint_dir": tmp_path / sub, **FAST}
    args.update(kw)
    return train("nasbench201", args.pop("arch", ARCH), **args)


def _weights(folder):
    return torch.load(folder / "checkpoint.pt", weights_only=True)["model"]


def _figures(result):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in result.history]


def test_train_reports_curves_and_writes_the_result(data, tmp_path):
    events = []
    r = _train(data, tmp_path, "a", on_event=events.append)
    assert len(r.history) == 3 and [h["epoch"] for h in r.history] == [1, 2, 3]
    assert 0 <= r.accuracy <= 100 and r.accuracy == r.history[-1]["eval_acc"]
    assert r.history[0]["lr"] == pytest.approx(0.05) and r.history[2]["lr"] < 0.05
    assert r.data["held_out_images"] == 4 and r.data["train_images"] == 52
    assert r.params > 0 and r.protocol["overrides"]["epochs"] == 3
    saved = json.loads((tmp_path / "a" / "result.json").read_text())
    assert saved["accuracy"] == r.accuracy and len(saved["history"]) == 3
    ends = [e for e in events if isinstance(e, TrainProgress) and e.epoch_done]
    assert [e.epoch for e in ends] == [1, 2, 3] and ends[-1].eta == 0
    assert ends[-1].eval_acc == r.accuracy


def test_resume_after_a_kill_gives_the_same_weights_and_figures(data, tmp_path):
    full = _train(data, tmp_path, "full")

    def kill(ev):
        if isinstance(ev, TrainProgress) and ev.epoch == 2 and ev.step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(data, tmp_path, "cut", on_event=kill)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    resumed = _train(data, tmp_path, "cut")
    assert resumed.resumed_from == 1
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _figures(resumed) == _figures(full) and resumed.accuracy == full.accuracy
    # a different seed gives different weights (the check above can fail)
    other = _weights(tmp_path / "seed1") if _train(data, tmp_path, "seed1", seed=1) else None
    assert not all(torch.equal(a[k], other[k]) for k in a)


def test_checkpoint_of_another_run_is_refused(data, tmp_path):
    _train(data, tmp_path, "x", epochs=1)
    with pytest.raises(ConfigError, match="belongs to another run.*arch_key"):
        _train(data, tmp_path, "x", arch=ARCH2, epochs=1)
    with pytest.raises(ConfigError, match="belongs to another run.*fields"):
        _train(data, tmp_path, "x", epochs=1, lr=0.01)


def test_store_reuse_and_trained_accuracies(data, tmp_path):
    store = tmp_path / "s.sqlite"
    r1 = _train(data, tmp_path, "s1", store=store, epochs=1)
    again = _train(data, tmp_path, "s1b", store=store, epochs=1)
    assert again.cached and again.accuracy == r1.accuracy and not (tmp_path / "s1b").exists()
    r2 = _train(data, tmp_path, "s2", store=store, epochs=1, arch=ARCH2)
    pairs = trained_accuracies(store, "nasbench201", protocol="quick", space_opts=TINY)
    assert sorted(pairs) == sorted([(r1.arch, r1.accuracy), (r2.arch, r2.accuracy)])
    assert trained_accuracies(store, "nasbench201", protocol="nb201") == []
    with open_store(store) as db:
        row = db.trained_rows(arch_key=r1.arch)[0]
    assert row["protocol"] == "quick" and json.loads(row["overrides"])["epochs"] == 1
    assert json.loads(row["fields"])["lr"] == 0.05 and row["seed"] == 0


def test_refine_trains_the_k_best(data, tmp_path):
    search = {"space": "nasbench201", "settings": {"space_opts": TINY},
              "top": [{"arch": ARCH2, "score": 3.0}, {"arch": ARCH, "score": 2.0},
                      {"arch": "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "score": 1}]}
    r = refine(search, 2, "quick", data, device="cpu", threads=1, store=tmp_path / "r.sqlite",
               epochs=1, batch_size=16)
    assert r.zero_cost_best == ARCH2 and r.zero_cost_score == 3.0
    assert [c[0] for c in r.candidates] == [ARCH2, ARCH]
    accs = [c[2].accuracy for c in r.candidates]
    assert r.refined_accuracy == max(accs)
    assert r.refined_best == r.candidates[accs.index(max(accs))][0]
    with pytest.raises(ConfigError, match="k must be"):
        refine(search, 0, "quick", data)
    with pytest.raises(ConfigError, match="ranks 3 architecture"):
        refine(search, 4, "quick", data)


def test_protocol_that_does_not_fit_the_space(data, tmp_path):
    with pytest.raises(ConfigError, match="protocol 'darts' does not fit space 'nasbench201'"):
        _train(data, tmp_path, "d", protocol="darts")
    with pytest.raises(ConfigError, match="auxiliary head.*nasbench201 network has none"):
        _train(data, tmp_path, "d", auxiliary_weight=0.4)
    with pytest.raises(ConfigError, match="drop-path"):
        _train(data, tmp_path, "d", drop_path=0.2)


def test_data_that_does_not_fit_the_network(data, tmp_path):
    with pytest.raises(DataError, match="8x8 but the nasbench201 space is set for 32x32.*"
                       "input_size=8"):
        _train(data, tmp_path, "e", space_opts={"C": 8, "N": 1})
    genotype = ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0),"
                " ('dil_conv_3x3', 2), ('avg_pool_3x3', 1), ('sep_conv_5x5', 2), "
                "('skip_connect', 0), ('sep_conv_3x3', 3)], normal_concat=[2, 3, 4, 5], "
                "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
                "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), "
                "('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
    with pytest.raises(DataError, match="8x8 do not fit the darts network with its auxiliary"):
        train("darts", genotype, protocol="darts", data=data, store=False, device="cpu",
              space_opts={"C": 4, "layers": 3, "input_size": 8},
              checkpoint_dir=tmp_path / "f", epochs=1)
    with pytest.raises(ConfigError, match="auxiliary=true"):
        train("darts", genotype, protocol="darts", data=data, store=False, device="cpu",
              space_opts={"C": 4, "layers": 3, "input_size": 8, "auxiliary": False},
              checkpoint_dir=tmp_path / "g", epochs=1)


def test_darts_with_auxiliary_head_and_drop_path_trains(tmp_path):
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(2), 6)
    path = tmp_path / "d32.npz"
    np.savez(path, x=rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8), y=y)
    genotype = ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0),"
                " ('dil_conv_3x3', 2), ('avg_pool_3x3', 1), ('sep_conv_5x5', 2), "
                "('skip_connect', 0), ('sep_conv_3x3', 3)], normal_concat=[2, 3, 4, 5], "
                "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
                "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), "
                "('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
    r = train("darts", genotype, protocol="darts", data=str(path), store=False, device="cpu",
              threads=1, space_opts={"C": 2, "layers": 3}, checkpoint_dir=tmp_path / "c",
              epochs=2, batch_size=5, holdout=0.2)
    assert r.space_opts["auxiliary"] and r.space_opts["C"] == 2 and len(r.history) == 2
    weights = _weights(tmp_path / "c")
    assert any(k.startswith("auxiliary_head.") for k in weights)
