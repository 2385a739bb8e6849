"""What refining a zero-cost search by training buys on NAS-Bench-201, simulated from tables.

``nasx search ... --refine K`` trains the K best architectures of a zero-cost search and returns
the best of them by held-out accuracy. This script simulates that over a fixed pool of cells
whose proxy scores are already committed, so nothing is scored or trained here.

Protocol (also written to the results file, before any number):

* **Pool.** The 1000 NAS-Bench-201 cells of ``benchmarks/results/nb201_scores_cpu.csv``
  (``--scores``): every nasx proxy's raw score on each cell (batch of 64 CIFAR-10 probe
  images) and the cell's 200-epoch ``cifar10_test``.
* **Search.** For each seed and budget B: B cells drawn without replacement from the pool with
  ``numpy.random.default_rng(seed).choice(pool, B, replace=False)``, in that order (the order a
  search would evaluate them). Every proxy sees the same draws for a seed.
* **Fitness.** The proxy's values over the B drawn cells, computed from the committed leaf
  scores by :func:`nasx.population.population_fitness`: a population proxy (``nasx-top``, a
  log-rank ensemble) is re-ranked over the drawn cells only, as the search engine does for the
  population it evaluated; a per-model proxy (``gradalign-i``) gives its own values. Cells whose
  fitness is not finite (failed scores) are left out of the ranking. Order: the oriented value,
  ties by draw order (the engine's top list).
* **Zero-cost pick.** The first cell of that order.
* **Refined pick (K).** Among the K first cells of that order, the one with the highest
  12-epoch held-out accuracy (``--select-col`` of ``nasbench201/accuracies_12epoch.csv``,
  default ``cifar10_val``: NAS-Bench-201's ``cifar10-valid`` run, trained 12 epochs on the 25k
  training half of the CIFAR-10 training set and evaluated on the other 25k; it never sees the
  test set that the reported ``cifar10_test`` is measured on). Ties: the better zero-cost rank,
  as ``nasx.training.refine`` breaks them. Cost: K trainings per search.
* **Reported.** Per (proxy, B, K): median, min, max (and mean) over the seeds of the 200-epoch
  ``cifar10_test`` of the zero-cost pick and of the refined pick, the per-seed difference, how
  many seeds changed pick, and the trainings (K per seed). Context per (B, seed): the best
  ``cifar10_test`` among the drawn cells (the ceiling of that search) and the pick by 12-epoch
  accuracy over all B cells (cost: B trainings).
* **Not measured.** The wall time of a 12-epoch training: the cost is counted in trainings.
  The 12-epoch table holds NAS-Bench-201's means over its training seeds; one training of one's
  own varies from seed to seed, so the refined figures here are, in that respect, optimistic.
* **Evolution** is not simulated: restricted to the pool, a mutation (one edge changed) of a
  cell reaches few other pool cells (the neighbour counts are in the results file), so the
  search would be a walk on a sparse graph, not regularized evolution.

Example:
    python benchmarks/refine_nb201.py --out benchmarks/results/refine_nb201.json
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO, parse_ints, shared_file, write_results  # noqa: E402  (puts this checkout first)

SCORES = "benchmarks/results/nb201_scores_cpu.csv"
TRUTH = "cifar10_test"  # 200 epochs, in the scores file
ONE_EDGE = re.compile(r"([a-z_0-9]+)~\d")


def load_pool(path: Path) -> tuple[list[str], np.ndarray, dict[str, list[float | None]]]:
    """The pool's cells, their 200-epoch ``cifar10_test`` and every proxy's raw scores."""
    if not path.exists():
        sys.exit(f"missing {path}; it is committed with the repository "
                 "(benchmarks/table_suite.py --dump-scores writes it)")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"{path}: no rows")
    acc_cols = {c for c in rows[0] if c.endswith("_test")}
    leaves = {c: [None if r[c] == "" else float(r[c]) for r in rows]
              for c in rows[0] if c != "arch" and c not in acc_cols}
    return [r["arch"] for r in rows], np.array([float(r[TRUTH]) for r in rows]), leaves


def load_column(path: Path, column: str, archs: list[str]) -> np.ndarray:
    """``column`` of an NAS-Bench-201 table for each of ``archs`` (matched by cell string)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if column not in (reader.fieldnames or []):
            sys.exit(f"{path} has no column {column!r}; columns: {reader.fieldnames}")
        table = {r["arch"]: float(r[column]) for r in reader}
    missing = [a for a in archs if a not in table]
    if missing:
        sys.exit(f"{path}: {len(missing)} pool cell(s) missing, e.g. {missing[0]}")
    return np.array([table[a] for a in archs])


def ranked(spec: Any, leaves: dict[str, list[float | None]], drawn: np.ndarray) -> list[int]:
    """Pool indices of the drawn cells, best first by the proxy's fitness over the draw."""
    from nasx.population import leaf_proxies, population_fitness

    names = [lf.name for lf in leaf_proxies([spec])]
    rows = [{n: leaves[n][int(i)] for n in names} for i in drawn]
    fit = population_fitness(spec, rows, oriented=True)
    order = sorted((j for j in range(len(drawn)) if np.isfinite(fit[j])),
                   key=lambda j: (-fit[j], j))
    return [int(drawn[j]) for j in order]


def refined(order: list[int], k: int, select: np.ndarray) -> int:
    """Among the ``k`` first of ``order``, the best by ``select`` (ties: the earlier)."""
    top = order[:k]
    return max(range(len(top)), key=lambda r: (select[top[r]], -r))


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4), "mean": round(statistics.fmean(values), 4)}


def pool_neighbours(archs: list[str]) -> dict[str, Any]:
    """How many other pool cells one mutation (one edge, another op) of each pool cell is."""
    from nasx.spaces.nasbench201 import OPS

    specs = [tuple(ONE_EDGE.findall(a)) for a in archs]
    pool = set(specs)
    counts = []
    for s in specs:
        counts.append(sum(s[:e] + (op,) + s[e + 1:] in pool
                          for e in range(len(s)) for op in OPS if op != s[e]))
    hist = Counter(counts)
    return {"mutations_per_cell": len(specs[0]) * (len(OPS) - 1),
            "cells_by_pool_neighbours": {str(k): hist[k] for k in sorted(hist)},
            "median_pool_neighbours": statistics.median(counts),
            "cells_without_pool_neighbour": hist.get(0, 0)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scores", default=SCORES,
                   help="per-cell scores of the pool (table_suite.py --dump-scores) "
                   "[%(default)s]")
    p.add_argument("--data", default=None,
                   help="shared data folder [$NASX_SHARED_DATA, else ../shared/data]")
    p.add_argument("--proxies", default="nasx-top,gradalign-i")
    p.add_argument("--budgets", default="100,500")
    p.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,3,7 [%(default)s]")
    p.add_argument("--ks", default="3,5,10", help="numbers of trained candidates [%(default)s]")
    p.add_argument("--select-col", default="cifar10_val",
                   help="12-epoch column the refined pick is chosen by [%(default)s]")
    p.add_argument("--out", default=None, help="results JSON (relative: from the repository "
                   "root)")
    args = p.parse_args(argv)

    scores = Path(args.scores)
    scores = scores if scores.is_absolute() else REPO / scores
    twelve = shared_file("nasbench201", "accuracies_12epoch.csv", root=args.data)
    truth_file = shared_file("nasbench201", "accuracies.csv", root=args.data)

    import nasx  # noqa: F401  (registers the built-in proxies)
    from nasx.proxies.base import get_proxy

    archs, acc, leaves = load_pool(scores)
    select = load_column(twelve, args.select_col, archs)
    truth = load_column(truth_file, TRUTH, archs)
    truth_diff = float(np.max(np.abs(truth - acc)))
    if truth_diff > 1e-4:
        sys.exit(f"{scores}: {TRUTH} differs from {truth_file} by up to {truth_diff}")
    proxies = [x.strip() for x in args.proxies.split(",") if x.strip()]
    budgets, seeds, ks = parse_ints(args.budgets), parse_ints(args.seeds), parse_ints(args.ks)
    n = len(archs)
    if max(budgets) > n:
        sys.exit(f"budget {max(budgets)} is larger than the pool ({n} cells)")
    specs = {name: get_proxy(name) for name in proxies}

    runs: list[dict[str, Any]] = []
    context: list[dict[str, Any]] = []
    for budget in budgets:
        for seed in seeds:
            drawn = np.random.default_rng(seed).choice(n, budget, replace=False)
            by_select = drawn[max(range(budget), key=lambda j: (select[drawn[j]], -j))]
            context.append({"budget": budget, "seed": seed,
                            "best_in_draw": float(acc[drawn].max()),
                            "all_trained_pick": archs[int(by_select)],
                            "all_trained_pick_cifar10_test": float(acc[by_select])})
            for name, spec in specs.items():
                order = ranked(spec, leaves, drawn)
                zc = order[0]
                for k in ks:
                    r = refined(order, k, select)
                    pick = order[r]
                    runs.append({
                        "proxy": name, "budget": budget, "seed": seed, "k": k,
                        "ranked": len(order),
                        "zero_cost_pick": archs[zc], "zero_cost_cifar10_test": float(acc[zc]),
                        "refined_pick": archs[pick], "refined_rank": r + 1,
                        f"refined_{args.select_col}_12epoch": float(select[pick]),
                        "refined_cifar10_test": float(acc[pick]),
                        "best_of_k_cifar10_test": float(acc[order[:k]].max()),
                    })

    summary = []
    for name in proxies:
        for budget in budgets:
            ctx = [c for c in context if c["budget"] == budget]
            for k in ks:
                rows = [r for r in runs if (r["proxy"], r["budget"], r["k"]) == (name, budget, k)]
                zc = [r["zero_cost_cifar10_test"] for r in rows]
                rf = [r["refined_cifar10_test"] for r in rows]
                summary.append({
                    "proxy": name, "budget": budget, "k": k, "seeds": len(rows),
                    "trainings_per_search": k, "trainings_total": k * len(rows),
                    "zero_cost_cifar10_test": spread(zc),
                    "refined_cifar10_test": spread(rf),
                    "refined_minus_zero_cost": spread([b - a for a, b in zip(zc, rf)]),
                    "seeds_changed": sum(r["refined_rank"] != 1 for r in rows),
                    "seeds_worse": sum(b < a for a, b in zip(zc, rf)),
                    "best_of_k_cifar10_test": spread([r["best_of_k_cifar10_test"]
                                                      for r in rows]),
                    "best_in_draw_cifar10_test": spread([c["best_in_draw"] for c in ctx]),
                    "all_trained_cifar10_test": spread([c["all_trained_pick_cifar10_test"]
                                                        for c in ctx]),
                })

    protocol = __doc__.split("Protocol (also written to the results file, before any "
                             "number):")[1].split("Example:")[0]
    doc: dict[str, Any] = {
        "benchmark": "refine_nb201: a zero-cost search refined by training its K best "
                     "(simulated from NAS-Bench-201 tables; nothing scored or trained)",
        "protocol": " ".join(protocol.split()),
        "pool": {"scores": str(scores.relative_to(REPO)) if scores.is_relative_to(REPO)
                 else str(scores), "cells": n, "truth": f"{TRUTH} (200 epochs)",
                 "truth_checked_against": "nasbench201/accuracies.csv",
                 "truth_max_abs_diff": truth_diff},
        "select": {"file": "nasbench201/accuracies_12epoch.csv", "column": args.select_col,
                   "meaning": ("cifar10-valid, 12 epochs, trained on the 25k training half, "
                               "accuracy on the 25k validation half (x-valid)"
                               if args.select_col == "cifar10_val" else args.select_col)},
        "proxies": {name: {"population": bool(s.population),
                           "components": list(s.components) if s.population else None,
                           "higher_is_better": s.higher_is_better}
                    for name, s in specs.items()},
        "caveats": [
            "nasx-top's members were chosen on the selection half of these same 1000 cells "
            "(benchmarks/ensemble_nb201.py, split seed 0), so its zero-cost picks are partly "
            "in-sample; gradalign-i was not chosen on them",
            "the 12-epoch accuracies are NAS-Bench-201's means over its training seeds; one "
            "training of one's own is noisier",
            "the wall time of a training is not measured here: cost is counted in trainings",
        ],
        "evolution": {"simulated": False,
                      "why": "mutation restricted to the pool reaches few pool cells",
                      **pool_neighbours(archs)},
        "seeds": seeds, "budgets": budgets, "ks": ks,
        "summary": summary, "context": context, "runs": runs,
    }

    print(f"{n}-cell pool, seeds {seeds}; refined pick by 12-epoch {args.select_col}; "
          f"200-epoch {TRUTH} median (min-max):")
    print(f"{'proxy':12s} {'B':>4s} {'K':>3s} {'zero-cost':>21s} {'refined':>21s} "
          f"{'diff median':>11s} {'changed':>7s} {'trainings':>9s}")
    for s in summary:
        def f(d: dict[str, float]) -> str:
            return f"{d['median']:.2f} ({d['min']:.2f}-{d['max']:.2f})"
        print(f"{s['proxy']:12s} {s['budget']:4d} {s['k']:3d} "
              f"{f(s['zero_cost_cifar10_test']):>21s} {f(s['refined_cifar10_test']):>21s} "
              f"{s['refined_minus_zero_cost']['median']:+11.2f} "
              f"{s['seeds_changed']:>4d}/{s['seeds']} {s['trainings_per_search']:9d}")
    for budget in budgets:
        ctx = [c for c in context if c["budget"] == budget]
        b, t = (spread([c[key] for c in ctx]) for key in
                ("best_in_draw", "all_trained_pick_cifar10_test"))
        print(f"B={budget}: best in the draw {b['median']:.2f} ({b['min']:.2f}-{b['max']:.2f});"
              f" all {budget} trained {t['median']:.2f} ({t['min']:.2f}-{t['max']:.2f})")
    if args.out:
        out = write_results(args.out, doc, argv)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
