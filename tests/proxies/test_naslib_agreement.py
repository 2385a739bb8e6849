"""Agreement with NASLib's precomputed zero-cost scores (NAS-Bench-Suite-Zero) on a small fixed
sample, for every proxy NASLib has (default suite; skipped when the shared data is absent).

The full check (100 cells) is ``benchmarks/naslib_crosscheck.py``; its committed run is
``benchmarks/results/naslib_crosscheck.json``. Here three cheap cells of that sample are scored
exactly as the benchmark scores them (full NAS-Bench-201 network C=16, N=5; one batch of 32
CIFAR-10 training images drawn and augmented as NASLib's loader, seed 0; init seed 0), and:

* params and flops must equal NASLib's values;
* every other proxy must order the three cells as NASLib's scores do. The cells were chosen so
  that NASLib's scores of each proxy are distinct; NASLib's weights and batch differ from ours,
  so only the order, not the value, is comparable.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_data

REPO = Path(__file__).resolve().parents[2]
CELLS = (
    "|none~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|skip_connect~2|",
    "|none~0|+|none~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|none~2|",
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|"
    "avg_pool_3x3~2|",
)


def _bench():
    bench = str(REPO / "benchmarks")
    if bench not in sys.path:  # the scripts import their shared module as `common`
        sys.path.insert(0, bench)
    spec = importlib.util.spec_from_file_location(
        "naslib_crosscheck", REPO / "benchmarks" / "naslib_crosscheck.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("naslib_crosscheck", mod)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def scored():
    zc = shared_data("nasbench_suite_zero", "zc_nasbench201.csv")
    npz = shared_data("cifar10", "probe_train.npz")
    bench = _bench()
    from nasx.api import make_space
    from nasx.scoring import Scorer

    with open(zc, newline="", encoding="utf-8") as f:
        rows = {r["arch"]: r for r in csv.DictReader(f) if r["dataset"] == "cifar10"}
    space = make_space("nasbench201")
    batch = bench.naslib_like_batch(npz, 32, 0)
    scorer = Scorer(space, batch, device="cpu", seed=0)
    proxies = list(bench.NAME_MAP.values())
    ours: dict[str, list[float]] = {p: [] for p in proxies}
    for text in CELLS:
        for r in scorer.score_many(space.parse(text), proxies):
            assert r.ok, f"{r.proxy} failed on {text}: {r.error}"
            ours[r.proxy].append(float(r.value))
    theirs = {col: [float(rows[t][col]) for t in CELLS] for col in bench.NAME_MAP}
    return bench.NAME_MAP, ours, theirs


@pytest.mark.parametrize("col", ["params", "flops"])
def test_costs_equal_naslib(scored, col):
    name_map, ours, theirs = scored
    assert ours[name_map[col]] == pytest.approx(theirs[col], rel=1e-6)


@pytest.mark.parametrize("col", ["fisher", "grad_norm", "grasp", "jacov", "nwot", "snip",
                                 "synflow"])
def test_order_agrees_with_naslib(scored, col):
    name_map, ours, theirs = scored
    assert len(set(theirs[col])) == 3  # a strict order to compare with
    assert list(np.argsort(ours[name_map[col]])) == list(np.argsort(theirs[col])), \
        (ours[name_map[col]], theirs[col])
