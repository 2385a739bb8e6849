"""The fixed cases of ``tests/test_api_golden.py``: scores, searches and evaluations through the
Python API on tiny networks (8 channels, 8x8 inputs).

``cases()`` computes every case and returns a JSON-ready dict; ``scripts/make_api_golden.py``
writes it to ``tests/data/api_golden.json`` (generated once from the code before the engine was
reorganised), and the test recomputes it and compares.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import nasx

#: (space, space options, seed of the sampled cells, number of cells)
SPACES: tuple[tuple[str, dict[str, Any], int, int], ...] = (
    ("nasbench201", {"C": 8, "N": 1, "input_size": 8}, 0, 3),
    ("darts", {"C": 8, "layers": 3, "input_size": 8}, 1, 2),
    ("nasbench101", {"stem_channels": 8, "stacks": 2, "cells_per_stack": 1, "input_size": 8},
     2, 2),
    ("nds-enas", {"widths": "8", "depths": "2", "input_size": 8}, 3, 2),
)
#: proxies scored on every cell (per-model, data-free and population ones)
PROXIES = "gradalign-i,gradalign-ii,naswot,synflow,params,snip,te-nas"
COMMON: dict[str, Any] = {"data": "synthetic:4", "batch_size": 8, "seed": 0, "device": "cpu",
                          "store": False}


def _num(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _cells(space: str, opts: dict[str, Any], seed: int, n: int) -> list[str]:
    import numpy as np

    from nasx.api import make_space

    sp = make_space(space, **opts)
    rng = np.random.default_rng(seed)
    return [sp.sample(rng).text for _ in range(n)]


def cases() -> dict[str, Any]:
    out: dict[str, Any] = {"score": {}, "search": {}, "evaluate": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # synthetic data warns
        for space, opts, seed, n in SPACES:
            texts = _cells(space, opts, seed, n)
            rows = nasx.score(texts, space=space, proxy=PROXIES, space_opts=opts, **COMMON)
            out["score"][space] = [
                {"arch": r.arch, "proxy": r.proxy, "value": _num(r.value), "status": r.status}
                for r in rows
            ]
        for strategy, sopts, budget in (("random", {}, 4), ("evolution", {"population": 3}, 6)):
            for proxy in ("synflow", "te-nas"):
                r = nasx.search(space="nasbench201", proxy=proxy, strategy=strategy,
                                budget=budget, space_opts=SPACES[0][1],
                                strategy_opts=sopts, **COMMON)
                d = r.to_dict()
                out["search"][f"{strategy}/{proxy}"] = {
                    k: d[k] for k in ("best", "score", "evaluated", "failed", "top", "run_id",
                                      "stopped_by")
                }
        # constraints: infeasible cells are told to the strategy, never scored
        r = nasx.search(space="nasbench201", proxy="te-nas", strategy="evolution", budget=8,
                        max_params="0.06M", space_opts=SPACES[0][1],
                        strategy_opts={"population": 4}, **COMMON)
        d = r.to_dict()
        out["search"]["evolution/te-nas/max-params"] = {
            k: d[k] for k in ("best", "score", "evaluated", "failed", "infeasible", "top",
                              "run_id", "stopped_by")
        }
        r = nasx.search(space="nasbench201", proxy="synflow", strategy="pruning",
                        space_opts=SPACES[0][1], **COMMON)
        d = r.to_dict()
        out["search"]["pruning/synflow"] = {
            k: d[k] for k in ("best", "score", "evaluated", "failed", "top", "run_id",
                              "stopped_by")
        }
        texts = _cells(*SPACES[0])
        texts += _cells("nasbench201", SPACES[0][1], 7, 3)
        truth = [(t, float(i)) for i, t in enumerate(texts)]
        rep = nasx.evaluate("nasbench201", "synflow,naswot,te-nas", truth, sample=None,
                            space_opts=SPACES[0][1], **COMMON)
        out["evaluate"] = {
            p: {k: m[k] for k in ("kendall", "spearman", "top1_acc", "failed")}
            for p, m in rep.to_dict().items() if p != "settings"
        }
    return out
