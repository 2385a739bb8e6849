"""GradAlign-I on NAS-Bench-201 with the embedded 500-image probe set vs the 5,000-image
``probe_train.npz``: does the small shipped set change rankings?

Samples ``--n`` cells (``numpy.random.default_rng(--seed)``) from the NAS-Bench-201 ground truth,
draws one class-balanced batch of ``--batch-size`` images from each probe source with the same
``--seed``, scores every cell with gradalign-i on both batches (same initialisation seed), and
reports Kendall tau / Spearman rho of each against the accuracy column, and Kendall tau between
the two score vectors. Seconds are wall time on whatever machine runs it (the committed result
was measured on a shared, loaded CPU machine).

Run (from the repository root):
    python benchmarks/probe_set_tau.py --n 200 --seed 0 --threads 1 \
        --out benchmarks/results/probe_set_tau_nb201.json

The JSON is rewritten every 10 cells (``complete: false``, ``cells_done``) so an interrupted run
keeps what it computed; ``--resume`` continues it.

Reads $NASX_SHARED_DATA (default ../shared/data): nasbench201/accuracies.csv and
cifar10/probe_train.npz.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from common import shared_root  # noqa: E402  (puts this checkout first)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200, help="cells sampled [200]")
    p.add_argument("--seed", type=int, default=0, help="sample, batch and init seed [0]")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--acc-col", default="cifar10_test")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads [1]")
    p.add_argument("--data-root", default=str(shared_root()))
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--note", default="", help="free text stored in the JSON (e.g. the machine)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the per-cell values already in --out (same settings)")
    args = p.parse_args()

    import torch
    from scipy import stats

    torch.set_num_threads(args.threads)
    import nasx
    from nasx.api import make_batch, make_space
    from nasx.data import EMBEDDED, embedded_probe_path
    from nasx.evaluation import rank_metrics, read_truth
    from nasx.scoring import Scorer

    root = Path(args.data_root)
    truth_csv = root / "nasbench201" / "accuracies.csv"
    probe = root / "cifar10" / "probe_train.npz"
    if not truth_csv.exists() or not probe.exists():
        print(f"data not found under {root}; set NASX_SHARED_DATA", file=sys.stderr)
        return 2
    space = make_space("nasbench201")
    pairs = read_truth(truth_csv, space, "arch", args.acc_col)
    rng = np.random.default_rng(args.seed)
    idx = np.sort(rng.choice(len(pairs), size=args.n, replace=False))
    archs = [pairs[i][0] for i in idx]
    acc = np.array([pairs[i][1] for i in idx])
    sources = {"embedded": EMBEDDED, "probe_train": str(probe)}
    batches = {k: make_batch(v, space, batch_size=args.batch_size, seed=args.seed)
               for k, v in sources.items()}
    scorers = {k: Scorer(space, b, device="cpu", seed=args.seed) for k, b in batches.items()}
    vals: dict[str, list[float]] = {k: [] for k in sources}
    secs: dict[str, list[float]] = {k: [] for k in sources}
    spent = 0.0
    out_path = Path(args.out) if args.out else None
    if args.resume and out_path is not None and out_path.exists():
        old = json.loads(out_path.read_text())
        if (old.get("n"), old.get("seed"), old.get("batch_size"), old.get("acc_col")) != (
                args.n, args.seed, args.batch_size, args.acc_col):
            print(f"{out_path} holds another run; drop --resume", file=sys.stderr)
            return 2
        for name in sources:
            vals[name] = [np.nan if v is None else v for v in old["per_cell"][name]]
            secs[name] = list(old["per_cell_seconds"][name])
        spent = float(old.get("seconds_total", 0.0))
    t_all = time.perf_counter() - spent

    def report(done: int) -> dict:
        results = {}
        for name, v in vals.items():
            m = rank_metrics(np.array(v, float), acc[:done], True)
            results[name] = {k2: m[k2] for k2 in ("kendall", "spearman", "top1_acc", "failed",
                                                   "n")}
            results[name]["source"] = sources[name] if name == "embedded" else "probe_train.npz"
            results[name]["data_fingerprint"] = batches[name].fingerprint
            results[name]["seconds_per_arch_median"] = float(np.median(secs[name]))
        a_, b_ = np.array(vals["embedded"], float), np.array(vals["probe_train"], float)
        ok = np.isfinite(a_) & np.isfinite(b_)
        between = {
            "kendall": float(stats.kendalltau(a_[ok], b_[ok]).statistic),
            "spearman": float(stats.spearmanr(a_[ok], b_[ok]).statistic),
            "n": int(ok.sum()),
        }
        return {
            "benchmark": "probe_set_tau",
            "command": "python " + " ".join(sys.argv),
            "complete": done == len(archs),
            "cells_done": done,
            "n": args.n,
            "seed": args.seed,
            "acc_col": args.acc_col,
            "batch_size": args.batch_size,
            "embedded_file": embedded_probe_path().name,
            "results": results,
            "kendall_between_sets": between,
            "seconds_total": time.perf_counter() - t_all,
            "machine": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "note": args.note,
            "nasx_version": nasx.__version__,
            "torch_version": torch.__version__,
            "per_cell": {k: [None if not np.isfinite(x) else x for x in v]
                         for k, v in vals.items()},
            "per_cell_seconds": secs,
            "cells": [a.text for a in archs[:done]],
        }

    def save(done: int) -> dict:
        res = report(done)
        if out_path is not None:
            out_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = out_path.with_suffix(".part")
            tmp.write_text(json.dumps(res, indent=2) + "\n")
            os.replace(tmp, out_path)
        return res

    for k in range(len(vals["embedded"]), len(archs)):
        a = archs[k]
        for name, scorer in scorers.items():
            t0 = time.perf_counter()
            r = scorer.score(a, "gradalign-i")
            secs[name].append(time.perf_counter() - t0)
            vals[name].append(r.value if r.ok else np.nan)
        if (k + 1) % 10 == 0 and k + 1 < len(archs):
            save(k + 1)
            print(f"[{k + 1}/{len(archs)}] {time.perf_counter() - t_all:.0f}s", file=sys.stderr)
    out = save(len(archs))
    results, between = out["results"], out["kendall_between_sets"]
    print(f"NAS-Bench-201 {args.acc_col}: {args.n} cells, seed {args.seed}, batch "
          f"{args.batch_size}, gradalign-i")
    for name, m in results.items():
        print(f"{name:<12} kendall {m['kendall']:.3f} spearman {m['spearman']:.3f} "
              f"failed {m['failed']} ({m['data_fingerprint']})")
    print(f"between the two sets: kendall {between['kendall']:.3f} "
          f"spearman {between['spearman']:.3f} (n={between['n']})")
    print(f"rerun: {out['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
