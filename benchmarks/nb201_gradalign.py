"""GradAlign-I/II rank correlation on NAS-Bench-201 CIFAR-10, and seconds per architecture.

Samples cells (seeded) from the NAS-Bench-201 ground truth, scores them with gradalign-i and
gradalign-ii on one class-balanced probe batch of real CIFAR-10 images (both variants share one
per-sample-gradient pass per cell), and reports Kendall tau and Spearman rho against the chosen
accuracy column, beside the parameter-count baseline on the same cells and the paper's figures.
Also reports the median seconds per architecture for gradalign-i (one pass, both variants).

Run (from the repository root):
    python benchmarks/nb201_gradalign.py --n 300 --seed 0 --out bench_out/nb201_gradalign.json

Reads ../shared/data (or $NASX_SHARED_DATA): nasbench201/accuracies.csv and
cifar10/probe_train.npz.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from common import shared_root  # noqa: E402  (puts this checkout first)

PAPER_TAU = {"gradalign-i": 0.617, "gradalign-ii": 0.599}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=300, help="cells sampled [300]")
    p.add_argument("--seed", type=int, default=0, help="sample and init seed [0]")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--acc-col", default="cifar10_test")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads [2]")
    p.add_argument("--data-root", default=str(shared_root()))
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args()

    import torch
    from scipy import stats

    torch.set_num_threads(args.threads)
    import nasx
    from nasx.api import make_batch, make_space
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
    batch = make_batch(str(probe), space, batch_size=args.batch_size, seed=args.seed)
    scorer = Scorer(space, batch, device=args.device, seed=args.seed)
    vals = {"gradalign-i": [], "gradalign-ii": [], "params": []}
    secs = []
    t_all = time.perf_counter()
    for k, a in enumerate(archs):
        t0 = time.perf_counter()
        r1, r2 = scorer.score_many(a, ["gradalign-i", "gradalign-ii"])
        secs.append(time.perf_counter() - t0)
        vals["gradalign-i"].append(r1.value if r1.ok else np.nan)
        vals["gradalign-ii"].append(r2.value if r2.ok else np.nan)
        model = space.build(a, 10)
        vals["params"].append(float(sum(q.numel() for q in model.parameters())))
        if (k + 1) % 25 == 0:
            print(f"[{k + 1}/{len(archs)}] {np.median(secs):.2f}s/arch", file=sys.stderr)
    results = {}
    for name, v in vals.items():
        m = rank_metrics(np.array(v, float), acc, True)
        results[name] = {k2: m[k2] for k2 in ("kendall", "spearman", "top1_acc", "failed", "n")}
        results[name]["paper_kendall"] = PAPER_TAU.get(name)
    corr_params = {
        name: float(stats.kendalltau(np.nan_to_num(np.array(vals[name]), nan=-1e30),
                                     vals["params"]).statistic)
        for name in ("gradalign-i", "gradalign-ii")
    }
    out = {
        "benchmark": "nb201_gradalign",
        "command": "python " + " ".join(sys.argv),
        "n": args.n,
        "seed": args.seed,
        "acc_col": args.acc_col,
        "batch_size": len(batch),
        "data_fingerprint": batch.fingerprint,
        "device": str(scorer.device),
        "device_name": torch.cuda.get_device_name(scorer.device) if scorer.device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "results": results,
        "kendall_vs_params": corr_params,
        "seconds_per_arch_median": float(np.median(secs)),
        "seconds_per_arch_p90": float(np.percentile(secs, 90)),
        "seconds_total": time.perf_counter() - t_all,
        "nasx_version": nasx.__version__,
        "torch_version": torch.__version__,
    }
    print(f"NAS-Bench-201 {args.acc_col}: {args.n} cells, seed {args.seed}, batch {len(batch)} "
          f"({batch.fingerprint}), device {out['device']}")
    print(f"{'proxy':<14}{'kendall':>9}{'spearman':>10}{'paper tau':>11}{'top-1 acc':>11}"
          f"{'failed':>8}")
    for name, m in results.items():
        paper = f"{m['paper_kendall']:.3f}" if m["paper_kendall"] is not None else "—"
        print(f"{name:<14}{m['kendall']:>9.3f}{m['spearman']:>10.3f}{paper:>11}"
              f"{m['top1_acc']:>11.2f}{m['failed']:>8}")
    print(f"kendall(score, params): {corr_params}")
    print(f"seconds per arch (gradalign-i and -ii, one pass): median "
          f"{out['seconds_per_arch_median']:.3f}, p90 {out['seconds_per_arch_p90']:.3f}")
    print(f"rerun: {out['command']}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
