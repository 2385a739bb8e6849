"""The score service's failure policy: failures are stored but retried unless kept, an
out-of-memory failure is never reused on another device, and a search goes on past proxies
that raise or return NaN or non-numbers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import nasx
from nasx.proxies.base import register_proxy
from nasx.registry import proxies
from nasx.scoring import ScoreResult
from nasx.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_subprocess import (  # noqa: E402
    CELL,
)


# -- failures in the store ----------------------------------------------------------------------
@pytest.fixture
def flaky_proxy():
    calls = []

    def flaky(model, batch, ctx):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("transient failure")
        return 1.25

    register_proxy("t-flaky", higher_is_better=True, needs=("none",), replace=True)(flaky)
    yield calls
    proxies.remove("t-flaky")


def test_failures_are_stored_but_retried_unless_kept(tmp_path, flaky_proxy):
    store = tmp_path / "s.sqlite"
    kw = dict(space="nasbench201", proxy="t-flaky", data="synthetic", batch_size=16,
              space_opts={"C": 8, "N": 1, "input_size": 8}, device="cpu", store=str(store))
    r1 = nasx.score(CELL, **kw)
    assert r1.status == "failed" and "transient" in r1.error
    kept = nasx.score(CELL, keep_failures=True, **kw)
    assert kept.status == "failed" and kept.cached and len(flaky_proxy) == 1
    r2 = nasx.score(CELL, **kw)
    assert r2.ok and r2.value == 1.25 and not r2.cached and len(flaky_proxy) == 2
    r3 = nasx.score(CELL, **kw)
    assert r3.ok and r3.cached and len(flaky_proxy) == 2


def test_oom_is_never_reused_on_another_device(tmp_path):
    from nasx.api import ScoreService, make_space
    from nasx.data import draw_batch, synthetic_dataset
    from nasx.proxies.base import get_proxy

    with pytest.warns(UserWarning):
        batch = draw_batch(synthetic_dataset(num_classes=4, n_per_class=4, size=8), 16, 0)
    space = make_space("nasbench201", C=8, N=1, input_size=8)
    spec = get_proxy("params")
    with Store(tmp_path / "s.sqlite") as st:
        svc = ScoreService(space, [spec], batch, device="cpu", store=st, keep_failures=True)
        arch = space.parse(CELL)
        st.put(svc.key(arch, spec), ScoreResult(CELL, "params", None, "oom", "out of memory"),
               device_name="cuda:Some Small GPU:8000MiB")
        r = svc.score([arch])[0]["params"]
        assert r.ok and not r.cached  # recomputed here, not served from the small GPU
        st.put(svc.key(arch, spec), ScoreResult(CELL, "params", None, "oom", "out of memory"),
               device_name="cpu")
        assert svc.score([arch])[0]["params"].status == "oom"  # same device: kept


# -- user proxies that misbehave during a search ------------------------------------------------
def test_search_goes_on_past_raising_nan_and_non_number_proxies(tmp_path):
    calls = []

    def moody(model, batch, ctx):
        n = sum(p.numel() for p in model.parameters())
        calls.append(n)
        kind = len(calls) % 4
        if kind == 0:
            raise ValueError("moody proxy")
        if kind == 1:
            return float("nan")
        if kind == 2:
            return {"not": "a number"}
        return float(n)

    register_proxy("t-moody", higher_is_better=True, needs=("none",), replace=True)(moody)
    try:
        r = nasx.search("nasbench201", "t-moody", "random", budget=30, data="synthetic",
                        batch_size=16, space_opts={"C": 8, "N": 1, "input_size": 8},
                        device="cpu", store=str(tmp_path / "s.sqlite"), seed=1)
        assert r.evaluated == 30 and 0 < r.failed < 30
        with Store(tmp_path / "s.sqlite") as st:
            statuses = {row["status"] for row in st.scores()}
        assert {"ok"} < statuses and statuses <= {"ok", "failed", "nonfinite"}
    finally:
        proxies.remove("t-moody")
