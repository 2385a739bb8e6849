"""Search strategies on NAS-Bench-201: the CIFAR-10 test accuracy of the cell each one returns.

For each proxy, strategy (random / evolution / pruning), evaluation budget and seed, runs
``nasx.search`` on NAS-Bench-201 and looks up the ground-truth ``cifar10_test`` accuracy
(200 epochs, ``accuracies.csv``) of the returned cell; reports the median and range over seeds.

Proxies:

* ``oracle-cifar10`` (registered here only, never part of nasx): the ground-truth
  ``cifar10_test`` accuracy of the cell. For a pruning supernet it is the mean accuracy of every
  cell the supernet contains (the expected accuracy of a uniformly drawn sub-cell). No real
  network is built: the benchmark searches a NAS-Bench-201 space whose ``build`` returns an empty
  module carrying the cell's op sets, so an oracle evaluation costs microseconds.
* any registered proxy (``gradalign-i``, ...): real networks (C=16, N=5, 32x32) on the CIFAR-10
  probe images; expensive on a CPU (1-3 s per cell at batch 128), meant for a GPU
  (``--device cuda``). Scores are cached in the store (``--store``), so budgets and strategies
  share them.

Pruning (TE-NAS) ends by itself after 55 evaluations on NAS-Bench-201 (54 supernets + the
returned cell), whatever the budget; its rows repeat one run per seed under every budget.

Example:
    OMP_NUM_THREADS=1 python benchmarks/strategies_nb201.py --proxy oracle-cifar10 \\
        --budgets 100,500 --seeds 0-4 --out benchmarks/results/strategies_nb201_oracle.json
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import parse_ints, shared_root  # noqa: E402  (puts this checkout first)

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_root()
ORACLE = "oracle-cifar10"


def load_tables(path: Path, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """One 5**6 array of accuracies per column, indexed by the op index of each edge (EDGES
    order); the file is read and parsed once."""
    from nasx.spaces.nasbench201 import EDGES, OPS, NASBench201

    space = NASBench201()
    tables = {c: np.full((len(OPS),) * len(EDGES), np.nan) for c in columns}
    index = {op: i for i, op in enumerate(OPS)}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            at = tuple(index[o] for o in space.parse(row["arch"]).spec)
            for c, table in tables.items():
                table[at] = float(row[c])
    if any(np.isnan(t).any() for t in tables.values()):
        raise SystemExit(f"{path}: the table does not cover all 15,625 cells")
    return tables


def cell_accuracy(table: np.ndarray, spec: tuple[str, ...]) -> float:
    from nasx.spaces.nasbench201 import OPS

    return float(table[tuple(OPS.index(o) for o in spec)])


def register_oracle(table: np.ndarray) -> Any:
    """Register the ``oracle-cifar10`` proxy and return the lookup space it works with."""
    import torch
    from torch import nn

    from nasx.proxies.base import register_proxy
    from nasx.spaces.nasbench201 import EDGES, OPS, NASBench201

    class CellRecord(nn.Module):
        """An empty network that only records which ops each edge carries."""

        def __init__(self, sets: list[tuple[str, ...]]) -> None:
            super().__init__()
            self.op_sets = sets

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - unused
            return x

    class LookupNB201(NASBench201):
        """NAS-Bench-201 whose networks are records of op sets (for table lookups only)."""

        def build(self, arch, num_classes):
            return CellRecord([(op,) for op in self._spec(arch)])

        def build_supernet(self, op_sets, num_classes, *, combine="sum"):
            return CellRecord(self._op_sets(op_sets))

    @register_proxy(ORACLE, higher_is_better=True, needs=("none",), replace=True,
                    paper="ground truth: NAS-Bench-201 cifar10_test (200 epochs)")
    def oracle(model, batch, ctx):
        sets = model.op_sets
        idx = [[OPS.index(o) for o in ops] for ops in sets]
        if any(not i for i in idx):
            raise ValueError("an edge without ops")
        return float(table[np.ix_(*idx)].mean())

    assert len(EDGES) == 6
    return LookupNB201()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--proxy", default=ORACLE, help=f"{ORACLE} or a registered proxy [%(default)s]")
    p.add_argument("--strategies", default="random,evolution,pruning")
    p.add_argument("--budgets", default="100,500", help="comma-separated evaluation budgets")
    p.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,3,7 [%(default)s]")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--data", default=str(SHARED / "cifar10" / "probe_train.npz"))
    p.add_argument("--truth", default=str(SHARED / "nasbench201" / "accuracies.csv"))
    p.add_argument("--store", default=None,
                   help="score store for real proxies [the user cache store]; the oracle "
                   "never uses one")
    p.add_argument("--also-cols", default="cifar100_test,imagenet16_test",
                   help="other accuracy columns of --truth reported for the returned cell (the "
                   "search itself never sees them) [%(default)s]")
    p.add_argument("--strategy-opt", action="append", default=[], metavar="STRATEGY:KEY=VALUE")
    p.add_argument("--out", default=None, help="JSON output path")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from nasx import api

    truth = Path(args.truth)
    if not truth.exists():
        print(f"ground truth {truth} not found (set NASX_SHARED_DATA); nothing measured")
        return 2
    also = [c.strip() for c in args.also_cols.split(",") if c.strip()]
    tables = load_tables(truth, ["cifar10_test", *also])
    table = tables["cifar10_test"]
    others = {c: tables[c] for c in also}
    budgets = [int(b) for b in args.budgets.split(",") if b.strip()]
    seeds = parse_ints(args.seeds)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    sopts: dict[str, dict[str, str]] = {}
    for item in args.strategy_opt:
        name, _, kv = item.partition(":")
        k, _, v = kv.partition("=")
        sopts.setdefault(name, {})[k] = v

    oracle = args.proxy == ORACLE
    if oracle:
        space: Any = register_oracle(table)
        data: Any = "synthetic"  # the oracle reads no data
        batch_size, store, device = 10, False, "cpu"
        warnings.filterwarnings("ignore", message="synthetic probe data")
    else:
        space = "nasbench201"
        data, batch_size, device = args.data, args.batch_size, args.device
        store = args.store  # None: the user cache store

    runs = []
    t_all = time.perf_counter()
    for strategy in strategies:
        for seed in seeds:
            for budget in (budgets if strategy != "pruning" else [None]):
                t0 = time.perf_counter()
                r = api.search(space, args.proxy, strategy, budget=budget, data=data,
                               batch_size=batch_size, seed=seed, device=device, store=store,
                               strategy_opts=sopts.get(strategy, {}))
                acc = cell_accuracy(table, r.best.spec) if r.best is not None else None
                runs.append({
                    "strategy": strategy, "seed": seed, "budget": budget,
                    "evaluated": r.evaluated, "cached": r.cached, "failed": r.failed,
                    "best": str(r.best) if r.best is not None else None, "score": r.score,
                    "cifar10_test": acc,
                    **{c: cell_accuracy(t, r.best.spec) if r.best is not None else None
                       for c, t in others.items()},
                    "seconds": round(time.perf_counter() - t0, 2),
                    "stopped_by": r.stopped_by,
                })
                print(f"  {strategy:9s} budget={budget!s:4s} seed={seed}: acc={acc} "
                      f"({r.evaluated} evaluated, {r.cached} cached, "
                      f"{runs[-1]['seconds']} s)", flush=True)
                if args.out:  # partial results survive an interrupted benchmark
                    _write(Path(args.out), {"partial": True, "proxy": args.proxy,
                                            "runs": runs})

    summary = []
    for strategy in strategies:
        for budget in budgets:
            rows = [r for r in runs if r["strategy"] == strategy
                    and (r["budget"] == budget or strategy == "pruning")]
            accs = [r["cifar10_test"] for r in rows if r["cifar10_test"] is not None]
            summary.append({
                "strategy": strategy, "budget": budget,
                "evaluations": sorted({r["evaluated"] for r in rows}),
                "seeds": len(rows), "median": statistics.median(accs) if accs else None,
                "min": min(accs) if accs else None, "max": max(accs) if accs else None,
                **{f"{c}_median": _median([r[c] for r in rows]) for c in others},
            })

    cmd = "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python " + " ".join(
        [str(Path(__file__).relative_to(REPO)) if Path(__file__).is_relative_to(REPO)
         else __file__] + (argv if argv is not None else sys.argv[1:]))
    print(f"\nNAS-Bench-201 cifar10_test accuracy (%) of the returned cell, proxy {args.proxy},"
          f" seeds {seeds} (best cell in the benchmark: {np.max(table):.2f})")
    print(f"{'strategy':10s} {'budget':>6s} {'evals':>9s} {'median':>7s} {'min':>7s} {'max':>7s}")
    for s in summary:
        def f(v):
            return f"{v:7.2f}" if v is not None else "      -"
        print(f"{s['strategy']:10s} {s['budget']:6d} {','.join(map(str, s['evaluations'])):>9s} "
              f"{f(s['median'])} {f(s['min'])} {f(s['max'])}")
    print(f"\ntotal {time.perf_counter() - t_all:.1f} s; rerun: {cmd}")
    doc = {
        "benchmark": "strategies_nb201",
        "proxy": args.proxy,
        "truth": "nasbench201/accuracies.csv:cifar10_test",
        "device": device if not oracle else "none (table lookup)",
        "batch_size": batch_size if not oracle else None,
        "data": str(data) if not oracle else None,
        "seeds": seeds, "budgets": budgets, "strategies": strategies,
        "strategy_opts": sopts,
        "best_cell_accuracy": float(np.max(table)),
        "also_cols": {c: {"best_cell_accuracy": float(np.max(t)),
                          "note": "reported only: the proxy and the search never see it"}
                      for c, t in others.items()},
        "summary": summary, "runs": runs, "command": cmd,
        "torch": torch.__version__,
    }
    if args.out:
        _write(Path(args.out), doc)
        print(f"wrote {args.out}")
    return 0


def _median(values: list[float | None]) -> float | None:
    """Median of the values that are not None (None when there are none)."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
