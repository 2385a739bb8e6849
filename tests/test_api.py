"""The Python API: every search can be scripted."""

from __future__ import annotations

import math

import pytest

import nasx
import nasx.testing  # noqa: F401  (toy space + oracle)
from nasx.errors import BudgetError
from nasx.events import Evaluated, RunFinished, RunStarted

OPTS = {"C": 8, "N": 1, "input_size": 8}


def test_search_events_and_result(batch):
    events = []
    r = nasx.search(space="nasbench201", proxy="gradalign-i", strategy="random", budget=3,
                    data=batch, seed=1, store=False, space_opts=OPTS, on_event=events.append)
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    ev = [e for e in events if isinstance(e, Evaluated)]
    assert [e.n_evaluated for e in ev] == [1, 2, 3]
    assert r.evaluated == 3 and r.best is not None and math.isfinite(r.score)
    assert str(r.best) == r.top[0][0]
    assert r.data_fingerprint == batch.fingerprint


def test_search_with_oracle_finds_toy_optimum(batch):
    r = nasx.search(space="toy", proxy="toy-oracle", strategy="random", budget=81, data=batch,
                    store=False, space_opts={"length": 4, "choices": 3})
    assert str(r.best) == "2-2-2-2" and r.stopped_by in ("budget", "exhausted")


def test_search_requires_budget(batch):
    with pytest.raises(BudgetError):
        nasx.search(space="toy", proxy="toy-oracle", data=batch, store=False)


def test_exhausting_a_finite_space(batch):
    r = nasx.search(space="toy", proxy="toy-oracle", budget=100, data=batch, store=False,
                    space_opts={"length": 2, "choices": 2})
    assert r.evaluated == 4 and r.stopped_by == "exhausted"


def test_score_api(batch):
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    one = nasx.score(cell, space="nasbench201", proxy="gradalign-i", data=batch, space_opts=OPTS)
    many = nasx.score([cell], space="nasbench201", proxy=["gradalign-i", "gradalign-ii"],
                      data=batch, space_opts=OPTS)
    assert one.ok and one.value == many[0].value
    assert many[1].proxy == "gradalign-ii"


def test_custom_proxy_in_search(batch):
    @nasx.register_proxy("t-width", higher_is_better=True, needs=["none"], replace=True)
    def width(model, batch, ctx):
        return float(sum(p.numel() for p in model.parameters()))

    r = nasx.search(space="toy", proxy="t-width", budget=81, data=batch, store=False)
    assert str(r.best) == "2-2-2-2"
    nasx.registry.proxies.remove("t-width")


def test_evaluate_api(batch):
    space = nasx.api.make_space("toy")
    truth = [(a.text, space.fitness(a)) for a in space.enumerate()]
    rep = nasx.evaluate("toy", "toy-oracle", truth, sample=20, data=batch, store=False)
    m = rep.metrics["toy-oracle"]
    assert m["kendall"] == pytest.approx(1.0) and m["n"] == 20 and m["failed"] == 0


def test_partial_cache_scores_only_missing_proxies(batch):
    from nasx.api import ScoreService, make_space
    from nasx.proxies.base import get_proxy
    from nasx.store import open_store

    calls = []

    @nasx.register_proxy("t-count", higher_is_better=True, needs=["none"], replace=True)
    def count(model, batch, ctx):
        calls.append(1)
        return 1.0

    try:
        space = make_space("toy")
        store = open_store(None)
        arch = space.parse("1-2-0-1")
        first = ScoreService(space, [get_proxy("t-count")], batch, device="cpu", store=store)
        first.score([arch])
        assert len(calls) == 1
        both = ScoreService(space, [get_proxy("t-count"), get_proxy("toy-oracle")], batch,
                            device="cpu", store=store)
        res = both.score([arch])[0]
        assert len(calls) == 1, "a proxy already in the store was computed again"
        assert res["t-count"].cached and not res["toy-oracle"].cached
        assert res["toy-oracle"].ok
    finally:
        nasx.registry.proxies.remove("t-count")
