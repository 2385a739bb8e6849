"""The latency proxy, its device-specific store key, and the max_latency_ms constraint."""

from __future__ import annotations

import json
import sqlite3

import pytest
import torch
from torch import nn

import nasx
from nasx.constraints import ConstraintChecker, Constraints
from nasx.data import needs_images
from nasx.errors import ConfigError, ProxyError
from nasx.executors import Executor
from nasx.proxies import latency as latency_mod
from nasx.proxies.base import get_proxy
from nasx.proxies.latency import latency_samples, measure_latency
from nasx.registry import make_space
from nasx.scoring import cpu_model, device_model, key_options
from nasx.service import ScoreService
from nasx.store import open_store

CELL = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
TINY = {"C": 8, "N": 1, "input_size": 8}


class Recorder(nn.Module):
    """Counts its forward calls and records the thread count and grad mode of each."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 2)
        self.calls: list[tuple[int, bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((torch.get_num_threads(), torch.is_grad_enabled(), self.training))
        return self.lin(x.flatten(1)[:, :4])


def test_registration() -> None:
    spec = get_proxy("latency")
    assert spec.higher_is_better is False and spec.device_specific
    assert not needs_images([spec])  # no probe data is loaded for it
    assert dict(spec.options) == {"batch_size": 1, "warmup": 5, "repeats": 20, "threads": None}
    assert not get_proxy("params").device_specific


def test_measurement_protocol() -> None:
    m = Recorder().train()
    before = torch.get_num_threads()
    times = latency_samples(m, (3, 2, 2), warmup=2, repeats=4, threads=1)
    assert len(times) == 4 and all(t > 0 for t in times)
    assert len(m.calls) == 6  # warm-up passes are run, not timed
    assert all(c == (1, False, False) for c in m.calls)  # 1 thread, no grad, eval mode
    assert m.training and torch.get_num_threads() == before  # all restored
    assert measure_latency(m, (3, 2, 2), repeats=3) > 0
    with pytest.raises(ProxyError, match="repeats"):
        measure_latency(m, (3, 2, 2), repeats=0)
    with pytest.raises(ProxyError, match="threads"):
        measure_latency(m, (3, 2, 2), threads=0)


def test_batch_size_reaches_the_input() -> None:
    shapes = []
    net = nn.Conv2d(3, 2, 1)
    net.register_forward_hook(lambda mod, inp, out: shapes.append(tuple(inp[0].shape)))
    measure_latency(net, (3, 5, 5), batch_size=7, warmup=0, repeats=2)
    assert shapes == [(7, 3, 5, 5)] * 2


def test_more_compute_takes_longer() -> None:
    big = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1))
    small = nn.Conv2d(3, 1, 1)
    t_big = measure_latency(big, (3, 32, 32), batch_size=4, warmup=1, repeats=5, threads=1)
    t_small = measure_latency(small, (3, 32, 32), batch_size=4, warmup=1, repeats=5, threads=1)
    assert t_big > t_small


def test_key_names_the_device_model() -> None:
    spec = get_proxy("latency")
    opts = key_options(spec, device=torch.device("cpu"))
    assert opts["device_model"] == device_model("cpu")
    assert cpu_model() in opts["device_model"]
    assert f"threads={torch.get_num_threads()}" in opts["device_model"]
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(old + 1)
        assert key_options(spec, device="cpu") != opts  # another thread count, another key
    finally:
        torch.set_num_threads(old)
    # the other proxies' keys do not change
    assert "device_model" not in key_options(get_proxy("params"), device="cpu")


def test_scored_through_the_api_with_a_store(tmp_path) -> None:
    store = tmp_path / "s.db"
    kw = {"space": "nasbench201", "proxy": "latency", "device": "cpu", "store": str(store),
          "space_opts": TINY}
    r1 = nasx.score(CELL, **kw)
    assert r1.ok and r1.value > 0 and not r1.higher_is_better and not r1.cached
    r2 = nasx.score(CELL, **kw)
    assert r2.cached and r2.value == r1.value
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT proxy, scoring FROM scores").fetchall()
    assert [json.loads(s)["device_model"] for p, s in rows if p.startswith("latency")] == [
        device_model("cpu")]


class _Pool(Executor):
    parallelism = 2

    def run(self, job, archs, on_result) -> None:  # pragma: no cover - never reached
        raise AssertionError


def test_parallel_executors_are_refused(batch) -> None:
    space = make_space("nasbench201", **TINY)
    with pytest.raises(ConfigError, match="sequential"):
        ScoreService(space, [get_proxy("latency")], batch, device="cpu", executor=_Pool())
    ScoreService(space, [get_proxy("params")], batch, device="cpu", executor=_Pool())


def test_constraint(tmp_path, monkeypatch) -> None:
    space = make_space("nasbench201", **TINY)
    arch = space.parse(CELL)
    assert Constraints.of(max_latency_ms="5").max_latency_ms == 5.0
    assert Constraints.of(max_latency_ms=5).active
    assert Constraints.of(max_latency_ms=5).to_dict() == {"max_latency_ms": 5.0}
    with pytest.raises(ConfigError):
        Constraints.of(max_latency_ms=-1)
    calls = []
    real = latency_mod.measure_latency

    def counted(*a, **k):
        calls.append(k)
        return real(*a, **k)

    monkeypatch.setattr(latency_mod, "measure_latency", counted)
    with open_store(str(tmp_path / "c.db")) as st:
        tight = ConstraintChecker(space, Constraints.of(max_latency_ms=1e-9), 10, store=st,
                                  latency_opts={"repeats": 3})
        why, m = tight.check(arch)
        assert why is not None and why.startswith("latency") and m["latency"] > 0
        assert calls == [{"device": torch.device("cpu"), "batch_size": 1, "warmup": 5,
                          "repeats": 3, "threads": None}]
        # the same function, the same options: the value comes back from the store
        loose = ConstraintChecker(space, Constraints.of(max_latency_ms=1e9), 10, store=st,
                                  latency_opts={"repeats": 3})
        why, m2 = loose.check(arch)
        assert why is None and m2["latency"] == m["latency"] and len(calls) == 1
        # other measurement options: measured again
        ConstraintChecker(space, Constraints.of(max_latency_ms=1e9), 10, store=st,
                          latency_opts={"repeats": 2}).check(arch)
        assert len(calls) == 2
    with pytest.raises(ConfigError, match="unknown latency option"):
        ConstraintChecker(space, Constraints.of(max_latency_ms=1), 10, latency_opts={"n": 1})
