"""Why searches stop short of NAS-Bench-201's best cells: the input-to-output edge.

Every NAS-Bench-201 cell with ``cifar10_test >= --min-acc`` (94.0 by default: 43 cells) is
compared with its variants that carry ``nor_conv_3x3`` or ``nor_conv_1x1`` instead of its op on
the edge from the cell input (node 0) to the cell output (node 3), everything else equal. For
each proxy this reports:

* ``prefers_original``: the fraction of (cell, variant) pairs in which the proxy scores the
  original cell better (its declared orientation; a tie counts as no preference), beside the
  mean true-accuracy gain of the original over the variant;
* ``top1_acc`` / ``top5_mean_acc``: the true accuracy of the cell the proxy ranks first, and the
  mean of its first five, among all the cells of the set (originals and variants); population
  proxies and ensembles (``--ensembles``) are combined over the set.

The set stands for the region an evolutionary search reaches: the best cells and their
nearest heavier neighbours. A proxy that prefers the heavier neighbour in most pairs cannot
return one of the best cells, however well it ranks the space as a whole.

All cells are scored on one probe batch (``--batch-size`` CIFAR-10 training images drawn with
``--seed``), one initialisation (``--seed``), NB201 networks at C=16, N=5. Scores are cached in
``--store``, so a rerun on the same store only reads them.

Run (from the repository root):
    python benchmarks/skip_edge_nb201.py --threads 2 --store bench_out/nb201_all.sqlite \\
        --out benchmarks/results/skip_edge_nb201_cpu.json

Reads $NASX_SHARED_DATA (default ../shared/data): nasbench201/accuracies.csv and
cifar10/probe_train.npz.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import shared_root  # noqa: E402  (puts this checkout first)

SHARED = shared_root()
PROXIES = ("gradalign-i,gradalign-i-frac,gradalign-ii,gradalign-ii-norm,meco,jacob-cov,"
           "az-trainability,az-expressivity,az-progressivity,linear-regions,synflow,zico,naswot,zen,snip,"
           "gradsign,params,flops")
ENSEMBLES = "nasx-ens,nasx-top,az-nas"
SWAPS = ("nor_conv_3x3", "nor_conv_1x1")


def build_set(truth: Path, col: str, min_acc: float) -> tuple[list[tuple[str, str]], dict, int]:
    """(original, variant) pairs, the accuracy of every cell, and how many originals carry
    ``skip_connect`` on the input-to-output edge."""
    from nasx.spaces.nasbench201 import EDGES, NASBench201

    space = NASBench201()
    edge = EDGES.index((0, 3))
    with open(truth, newline="", encoding="utf-8") as f:
        cells = {a.text: (a.spec, float(r[col]))
                 for r in csv.DictReader(f) for a in [space.parse(r["arch"])]}
    acc = {t: v for t, (_, v) in cells.items()}
    pairs, skips = [], 0
    for text in sorted(acc, key=lambda t: -acc[t]):
        if acc[text] < min_acc:
            break
        spec = cells[text][0]
        skips += spec[edge] == "skip_connect"
        for op in SWAPS:
            if spec[edge] != op:
                ops = spec[:edge] + (op,) + spec[edge + 1:]
                variant = space.from_op_sets({e: (o,) for e, o in zip(EDGES, ops)}).text
                pairs.append((text, variant))
    return pairs, acc, skips


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--min-acc", type=float, default=94.0)
    p.add_argument("--acc-col", default="cifar10_test")
    p.add_argument("--proxies", default=PROXIES)
    p.add_argument("--ensembles", default=ENSEMBLES,
                   help="comma-separated population proxies or ensembles ranked over the set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--store", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    truth = SHARED / "nasbench201" / "accuracies.csv"
    probe = SHARED / "cifar10" / "probe_train.npz"
    if not truth.exists() or not probe.exists():
        print(f"skip: {truth} or {probe} is missing (set NASX_SHARED_DATA)", file=sys.stderr)
        return 0

    import torch

    torch.set_num_threads(args.threads)
    import nasx
    from nasx.api import make_space
    from nasx.population import leaf_proxies, population_values
    from nasx.proxies.base import get_proxy

    pairs, acc, skips = build_set(truth, args.acc_col, args.min_acc)
    cells = list(dict.fromkeys(t for pair in pairs for t in pair))
    proxies = [q for q in args.proxies.split(",") if q]
    ensembles = [q for q in args.ensembles.split(",") if q]
    leaves = [lf.name for lf in leaf_proxies(proxies + ensembles)]
    t0 = time.time()
    results = nasx.score(cells, "nasbench201", leaves, data=str(probe),
                         batch_size=args.batch_size, seed=args.seed, device=args.device,
                         store=args.store, keep_failures=True)
    seconds = time.time() - t0
    values: dict[str, dict[str, float | None]] = {}
    for r in results:
        values.setdefault(r.proxy, {})[r.arch] = r.value if r.ok else None

    truth_vec = np.array([acc[c] for c in cells])
    pos = {c: i for i, c in enumerate(cells)}
    gains = [acc[a] - acc[b] for a, b in pairs]
    rows: list[dict[str, Any]] = []
    for name in proxies + ensembles:
        spec = get_proxy(name)
        vals = population_values(spec, {lf: [values[lf][c] for c in cells] for lf in leaves})
        oriented = np.where(np.isfinite(vals), vals if spec.higher_is_better else -vals, -np.inf)
        prefer = [oriented[pos[a]] > oriented[pos[b]] for a, b in pairs]
        ties = [oriented[pos[a]] == oriented[pos[b]] for a, b in pairs]
        order = np.argsort(-oriented, kind="stable")
        rows.append({"proxy": name, "higher_is_better": spec.higher_is_better,
                     "prefers_original": float(np.mean(prefer)), "ties": int(np.sum(ties)),
                     "top1_acc": float(truth_vec[order[0]]), "top1": cells[order[0]],
                     "top5_mean_acc": float(truth_vec[order[:5]].mean())})
    out = {
        "benchmark": "NAS-Bench-201: the best cells against their variants with a convolution "
                     "on the input-to-output edge",
        "acc_col": args.acc_col, "min_acc": args.min_acc,
        "originals": len({a for a, _ in pairs}), "pairs": len(pairs), "cells": len(cells),
        "mean_gain_of_original": float(np.mean(gains)),
        "originals_with_skip_on_edge": skips,
        "best_cell_in_set": cells[int(np.argmax(truth_vec))],
        "best_acc_in_set": float(truth_vec.max()),
        "settings": {"seed": args.seed, "batch_size": args.batch_size, "data": probe.name,
                     "device": args.device, "space_opts": dict(make_space("nasbench201").opts)},
        "rows": sorted(rows, key=lambda r: -r["prefers_original"]),
        "scoring_seconds": round(seconds, 1),
        "env": {"torch": torch.__version__, "nasx": nasx.__version__,
                "machine": platform.machine(), "threads": args.threads},
        "command": "python benchmarks/skip_edge_nb201.py " + " ".join(shlex.quote(a)
                                                                   for a in argv),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"{out['originals']} cells >= {args.min_acc} ({out['originals_with_skip_on_edge']} "
          f"with skip_connect on edge 0->3), {len(pairs)} pairs; the original is "
          f"{out['mean_gain_of_original']:.2f} points better on average")
    for r in out["rows"]:
        print(f"  {r['proxy']:18s} prefers original {r['prefers_original']:.2f}  "
              f"top-1 in set {r['top1_acc']:.2f}  top-5 mean {r['top5_mean_acc']:.2f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
