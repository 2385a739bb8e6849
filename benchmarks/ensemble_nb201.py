"""Rankings beyond the paper on NAS-Bench-201: every proxy, a chosen ensemble, and how much
GradAlign knows beyond the parameter count.

Input: the per-cell scores written by ``benchmarks/table_suite.py --dump-scores FILE.csv`` (one
row per NAS-Bench-201 cell: the cell, its ``cifar10_test`` / ``cifar100_test`` /
``imagenet16_test`` accuracies, and the raw value of every per-model proxy, all computed on the
same probe batch, network and initial weights). Nothing is scored here.

1. **Every proxy**: Kendall tau and Spearman rho against each accuracy column, through
   :func:`nasx.evaluation.rank_metrics` (population proxies such as ``az-nas`` and
   ``vkdnw-agg`` combined over all the cells by :func:`nasx.population.population_values`).
2. **Ensemble choice, on CIFAR-10 only**: the cells are split in two halves by a seeded
   permutation (``--split-seed``). On the *selection* half only, a greedy forward selection
   adds, one at a time, the candidate that most raises the Kendall tau of the equal-weight
   ensemble (``cifar10_test``), for each aggregation (``log-rank``, ``rank``); it stops when no
   candidate adds at least ``--min-gain`` or at ``--max-members``. The aggregation with the
   better selection-half tau is kept. Candidates are the per-model proxies (no population
   proxy, no duplicate of another candidate's values). The chosen ensemble is then reported on
   the *held-out* half, on all cells, and against the CIFAR-100 and ImageNet16-120 columns
   (which played no part in the choice).
   The same selection runs a second time for searches (``ensemble_choice_top``, ``chosen_top``)
   with the objective ``tau + --top-weight x tau_top``, ``tau_top`` the Kendall tau among the
   selection-half cells at or above the ``--top-quantile`` of ``cifar10_test``: a search
   returns one of the cells its proxy ranks first, so the order among the best cells decides
   what it returns. Every proxy and ensemble also reports ``kendall_top``.
3. **GradAlign beyond size**: Kendall tau of each GradAlign variant with ``params``; the
   partial Kendall tau of the variant and the accuracy given ``params``
   (``(t_xy - t_xz t_yz) / sqrt((1 - t_xz^2)(1 - t_yz^2))``); and the mean Kendall tau within
   ``--bins`` equal-count bins of ``params`` (weighted by bin size), beside ``params`` and
   ``flops`` themselves; plus the measured sign of each variant's tau (its orientation).

Example:
    python benchmarks/ensemble_nb201.py --scores benchmarks/results/nb201_scores_cpu.csv \\
        --out benchmarks/results/ensemble_nb201_cpu.json
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

ACC_COLS = ("cifar10_test", "cifar100_test", "imagenet16_test")
GRADALIGN = ("gradalign-i", "gradalign-ii", "gradalign-i-frac", "gradalign-ii-norm")


def load_scores(path: str) -> tuple[list[str], dict[str, np.ndarray], dict[str, list]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"{path}: no rows")
    cols = list(rows[0])
    accs = {c: np.array([float(r[c]) for r in rows]) for c in ACC_COLS if c in cols}
    leaves = {c: [None if r[c] == "" else float(r[c]) for r in rows]
              for c in cols if c != "arch" and c not in accs}
    return [r["arch"] for r in rows], accs, leaves


def metrics_of(name: str, leaves: dict[str, list], acc: np.ndarray,
               idx: np.ndarray | None = None, top: float = 0.9) -> dict[str, Any]:
    """Rank metrics of proxy ``name`` over the cells ``idx`` (all when None), plus
    ``kendall_top``: the Kendall tau among the cells whose accuracy is at or above the ``top``
    quantile of those cells (their scores taken from the whole population, as a search sees
    them)."""
    from nasx.evaluation import rank_metrics
    from nasx.population import population_values
    from nasx.proxies.base import get_proxy

    spec = get_proxy(name)
    sub = leaves if idx is None else {k: [v[i] for i in idx] for k, v in leaves.items()}
    vals = population_values(spec, sub)
    a = acc if idx is None else acc[idx]
    m = rank_metrics(vals, a, spec.higher_is_better)
    out = {k: m[k] for k in ("n", "failed", "kendall", "spearman", "top1_acc",
                             "precision_top5")}
    best = a >= np.quantile(a, top)
    o = vals if spec.higher_is_better else -vals
    ok = best & np.isfinite(o)
    out["top_quantile"] = top
    out["kendall_top"] = (float(stats.kendalltau(o[ok], a[ok]).statistic)
                          if ok.sum() >= 3 else None)
    return out


def ensemble_name(members: list[str], aggregation: str) -> str:
    return "+".join(members) + ("" if aggregation == "log-rank" else f"[{aggregation}]")


def greedy(candidates: list[str], leaves: dict[str, list], acc: np.ndarray, idx: np.ndarray,
           aggregation: str, min_gain: float, max_members: int,
           top_weight: float = 0.0, top: float = 0.9) -> tuple[list[str], list]:
    """Greedy forward selection on the cells ``idx``: the objective is the Kendall tau of the
    equal-weight ensemble, plus ``top_weight`` times its Kendall tau among the best tenth of
    those cells (``kendall_top``, the cells at or above the ``top`` quantile)."""
    def objective(members: list[str]) -> float:
        m = metrics_of(ensemble_name(members, aggregation), leaves, acc, idx, top)
        return m["kendall"] + (top_weight * (m["kendall_top"] or 0.0) if top_weight else 0.0)

    chosen: list[str] = []
    best = -math.inf
    trace = []
    while len(chosen) < max_members:
        scored = [(objective(chosen + [c]), c) for c in candidates if c not in chosen]
        if not scored:
            break
        t, c = max(scored)
        if chosen and t - best < min_gain:
            break
        chosen.append(c)
        best = max(best, t) if min_gain < 0 else t
        trace.append({"members": list(chosen), "selection_objective": t})
    if trace and min_gain < 0:  # the whole path: keep its best prefix (first of ties)
        top = max(range(len(trace)), key=lambda i: (trace[i]["selection_objective"], -i))
        chosen = list(trace[top]["members"])
    return chosen, trace


def partial_kendall(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    txy = stats.kendalltau(x, y).statistic
    txz = stats.kendalltau(x, z).statistic
    tyz = stats.kendalltau(y, z).statistic
    return float((txy - txz * tyz) / math.sqrt((1 - txz ** 2) * (1 - tyz ** 2)))


def binned_kendall(x: np.ndarray, y: np.ndarray, z: np.ndarray, bins: int) -> dict[str, Any]:
    order = np.argsort(z, kind="stable")
    parts = np.array_split(order, bins)
    taus, sizes = [], []
    for p in parts:
        if len(p) < 3 or np.ptp(x[p]) == 0 or np.ptp(y[p]) == 0:
            continue
        taus.append(float(stats.kendalltau(x[p], y[p]).statistic))
        sizes.append(len(p))
    mean = float(np.average(taus, weights=sizes)) if taus else float("nan")
    return {"mean_within_bin_kendall": mean, "bins_used": len(taus),
            "per_bin": [round(t, 4) for t in taus]}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scores", required=True, help="CSV of table_suite.py --dump-scores")
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--min-gain", type=float, default=0.002,
                    help="stop when the best addition gains less; a negative value runs the "
                         "selection to --max-members and keeps the best prefix of the path")
    ap.add_argument("--max-members", type=int, default=6)
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--top-weight", type=float, default=0.5,
                    help="weight of the best cells' Kendall tau in the second selection "
                         "(the ensemble for searches) [%(default)s]")
    ap.add_argument("--top-quantile", type=float, default=0.9,
                    help="the best cells: accuracy at or above this quantile [%(default)s]")
    ap.add_argument("--extra", default="gradalign-i+naswot+flops,nasx-ens,nasx-top",
                    help="comma-separated ensembles reported for comparison")
    ap.add_argument("--settings", default=None,
                    help="JSON of the scoring run (table_suite.py --out) to copy settings from")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import nasx  # noqa: F401  (registers the built-ins)
    from nasx.population import leaf_proxies
    from nasx.proxies.base import get_proxy

    archs, accs, leaves = load_scores(args.scores)
    n = len(archs)
    c10 = accs["cifar10_test"]
    perm = np.random.default_rng(args.split_seed).permutation(n)
    sel, held = np.sort(perm[: n // 2]), np.sort(perm[n // 2:])

    # 1. every proxy (and the published aggregates)
    populations = [p for p in ("az-nas", "vkdnw-agg")
                   if all(lf in leaves for lf in get_proxy(p).components)]
    names = sorted(leaves) + populations
    table = []
    for name in names:
        row: dict[str, Any] = {"proxy": name, "higher_is_better": get_proxy(name).higher_is_better}
        for col, acc in accs.items():
            m = metrics_of(name, leaves, acc, top=args.top_quantile)
            row[col] = m
        table.append(row)

    # 2. ensemble choice on the selection half of CIFAR-10
    candidates, seen = [], {}
    for name in sorted(leaves):
        key = tuple(leaves[name])
        if key in seen:  # identical values (e.g. az-complexity is flops): keep the first
            continue
        seen[key] = name
        candidates.append(name)
    def choose(top_weight: float) -> dict[str, Any]:
        runs = {}
        for agg in ("log-rank", "rank"):
            members, trace = greedy(candidates, leaves, c10, sel, agg, args.min_gain,
                                    args.max_members, top_weight, args.top_quantile)
            runs[agg] = {"members": members, "trace": trace,
                         "selection_objective": max(t["selection_objective"] for t in trace
                                                    if t["members"] == members)
                         if trace else None}
        agg = max(runs, key=lambda a: runs[a]["selection_objective"] or -math.inf)
        return {"runs": runs, "aggregation": agg,
                "chosen": ensemble_name(runs[agg]["members"], agg)}

    stop = (f"min gain {args.min_gain}" if args.min_gain >= 0
            else "run to the end, best prefix kept")
    choice = choose(0.0)
    choice_top = choose(args.top_weight)
    chosen, chosen_top = choice["chosen"], choice_top["chosen"]

    q = args.top_quantile

    def report(name: str) -> dict[str, Any]:
        return {"ensemble": name,
                "cifar10_selection_half": metrics_of(name, leaves, c10, sel, q),
                "cifar10_held_out_half": metrics_of(name, leaves, c10, held, q),
                **{f"{col}_all": metrics_of(name, leaves, acc, top=q)
                   for col, acc in accs.items()}}

    compare = [report(e) for e in args.extra.split(",") if e
               and all(lf.name in leaves for lf in leaf_proxies([e]))]
    compare += [report(p) for p in populations]
    singles = sorted(
        (r for r in table if r["proxy"] in leaves),
        key=lambda r: -abs(r["cifar10_test"]["kendall"] if r["cifar10_test"]["kendall"]
                           == r["cifar10_test"]["kendall"] else 0))
    compare += [report(singles[0]["proxy"])] if singles else []

    # 3. GradAlign beyond the parameter count
    params = np.array([np.nan if v is None else v for v in leaves["params"]])
    beyond = []
    for name in [g for g in GRADALIGN if g in leaves] + ["flops", "params"]:
        if name not in leaves:
            continue
        v = np.array([np.nan if x is None else x for x in leaves[name]])
        spec = get_proxy(name)
        o = v if spec.higher_is_better else -v
        ok = np.isfinite(o) & np.isfinite(params)
        entry: dict[str, Any] = {"proxy": name, "n": int(ok.sum())}
        entry["kendall_with_params"] = float(stats.kendalltau(o[ok], params[ok]).statistic)
        entry["kendall_cifar10"] = float(stats.kendalltau(o[ok], c10[ok]).statistic)
        entry["declared_higher_is_better"] = spec.higher_is_better
        entry["measured_orientation_agrees"] = bool(entry["kendall_cifar10"] > 0)
        if name != "params":
            entry["partial_kendall_given_params"] = partial_kendall(o[ok], c10[ok], params[ok])
        entry["binned_by_params"] = binned_kendall(o[ok], c10[ok], params[ok], args.bins)
        beyond.append(entry)

    settings: dict[str, Any] = {}
    if args.settings:
        src = json.loads(Path(args.settings).read_text())
        settings = {"scoring": src.get("settings"), "scoring_command": src.get("command"),
                    "env": src.get("env")}
    out = {
        "benchmark": "NAS-Bench-201 rankings beyond the paper: every proxy, the chosen "
                     "ensemble, GradAlign against the parameter count",
        "cells": n, "selection_half": int(len(sel)), "held_out_half": int(len(held)),
        "split_seed": args.split_seed,
        "note": ("cifar100_test and imagenet16_test are ranked with networks built for 10 "
                 "classes and probed with CIFAR-10 images"),
        "proxies": table,
        "ensemble_choice": {"rule": ("greedy forward selection on the selection half, "
                                     "objective: cifar10_test Kendall tau; equal weights, "
                                     f"{stop}, at most {args.max_members} members; "
                                     "aggregation with the higher selection-half objective"),
                            "candidates": candidates, **choice},
        "chosen": report(chosen),
        "ensemble_choice_top": {"rule": ("the same selection, objective: cifar10_test "
                                         f"Kendall tau + {args.top_weight} x the Kendall tau "
                                         f"among the cells at or above the {args.top_quantile}"
                                         " quantile of cifar10_test (of the selection half)"),
                                **choice_top},
        "chosen_top": report(chosen_top),
        "compare": compare,
        "gradalign_beyond_params": beyond,
        **settings,
        "command": "python benchmarks/ensemble_nb201.py " + " ".join(shlex.quote(a)
                                                                    for a in argv),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")

    for label, key in (("chosen ensemble", "chosen"), ("chosen for the best cells", "chosen_top")):
        c = out[key]
        name = c["ensemble"]
        print(f"{n} cells; {label}: {name}")
        print(f"  tau selection {c['cifar10_selection_half']['kendall']:.3f}  held-out "
              f"{c['cifar10_held_out_half']['kendall']:.3f}  (best tenth "
              f"{c['cifar10_selection_half']['kendall_top']:.3f} / "
              f"{c['cifar10_held_out_half']['kendall_top']:.3f})  all: " + "  ".join(
                  f"{col} {c[f'{col}_all']['kendall']:.3f}" for col in accs))
    for r in sorted(table, key=lambda r: -(r["cifar10_test"]["kendall"] or -9)):
        print(f"  {r['proxy']:18s} " + "  ".join(
            f"{col[:8]} tau {r[col]['kendall']:+.3f} rho {r[col]['spearman']:+.3f}"
            for col in accs))
    for e in beyond:
        print(f"  {e['proxy']:18s} tau(params) {e['kendall_with_params']:+.3f}  "
              f"partial {e.get('partial_kendall_given_params', float('nan')):+.3f}  "
              f"within-bins {e['binned_by_params']['mean_within_bin_kendall']:+.3f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
