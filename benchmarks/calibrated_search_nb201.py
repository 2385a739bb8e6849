"""A search whose fitness is calibrated on K labelled cells, on NAS-Bench-201, at a fixed budget.

The rule, fixed before the run. For each seed ``s`` in ``--seeds``:

1. **Labels**: ``--k`` NAS-Bench-201 cells drawn uniformly without replacement
   (``numpy.random.default_rng([s, K])``) from all 15,625; their ``cifar10_test`` accuracy
   (``nasbench201/accuracies.csv``, 200 epochs) stands for the user's own trained results.
2. **Fit**: :func:`nasx.calibrate.fit_from_truth` scores them with the ``--features`` proxies
   (probe batch ``--batch-size`` of ``cifar10/probe_train.npz``, seed ``s``, CPU) and fits and
   selects the model by its own rule (pooled out-of-fold Kendall tau).
3. **Search**: ``nasx.search`` with ``proxy="calibrated:<model>"``, ``--strategy`` (evolution),
   budget ``--budget`` minus K (the labels count in the budget), seed ``s``, the same data.
4. **Result**: the ``cifar10_test`` accuracy of the cell the search returns; beside it, the best
   accuracy among the K labelled cells (what the labels alone give a user, for reference).

Reports the median, min and max over seeds, against the zero-shot searches of
``benchmarks/strategies_nb201.py`` at the same total budget (read from their results files:
nasx-top, evolution, budget 500, batch 64). Features are scored once per cell and seed and kept
in ``--store`` (rerunning resumes). The JSON is rewritten after every seed.

Example:
    OMP_NUM_THREADS=2 python benchmarks/calibrated_search_nb201.py --seeds 0-4 \\
        --store bench_out/calsearch.sqlite --out benchmarks/results/calibrated_search_nb201_cpu.json
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO, parse_ints, shared_file, write_results  # noqa: E402  (puts this checkout first)

FEATURES = "params,flops,meco,jacob-cov,synflow,gradalign-i-frac,gradalign-ii"


def zero_shot(proxy: str, budget: int, strategy: str) -> dict[str, Any] | None:
    path = REPO / "benchmarks" / "results" / f"strategies_nb201_{proxy}_b{budget}_cpu.json"
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    for row in doc["summary"]:
        if row["strategy"] == strategy and row["budget"] == budget:
            return {"proxy": proxy, "file": str(path.relative_to(REPO)),
                    **{k: row[k] for k in ("median", "min", "max", "seeds")}}
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--features", default=FEATURES)
    ap.add_argument("--strategy", default="evolution")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--store", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    import nasx
    from nasx.calibrate import fit_from_truth

    with open(shared_file("nasbench201", "accuracies.csv"), newline="") as f:
        truth = {r["arch"]: float(r["cifar10_test"]) for r in csv.DictReader(f)}
    archs = list(truth)
    probe = str(shared_file("cifar10", "probe_train.npz"))
    work = Path(args.store).resolve().parent
    work.mkdir(parents=True, exist_ok=True)
    features = args.features.split(",")
    runs: list[dict[str, Any]] = []
    doc: dict[str, Any] = {}
    for s in parse_ints(args.seeds):
        t0 = time.perf_counter()
        idx = np.random.default_rng([s, args.k]).choice(len(archs), args.k, replace=False)
        labelled = [archs[i] for i in idx]
        labels = work / f"calsearch_labels_s{s}_k{args.k}.csv"
        with open(labels, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["arch", "accuracy"])
            w.writerows([a, truth[a]] for a in labelled)
        model_path = work / f"calsearch_model_s{s}_k{args.k}.json"
        model = fit_from_truth(labels, "nasbench201", features, out=model_path, data=probe,
                               batch_size=args.batch_size, seed=s, device="cpu",
                               store=args.store)
        t_fit = time.perf_counter() - t0
        res = nasx.search("nasbench201", f"calibrated:{model_path}", args.strategy,
                          budget=args.budget - args.k, data=probe, batch_size=args.batch_size,
                          seed=s, device="cpu", store=args.store)
        best = str(res.best)
        runs.append({"seed": s, "model": {"kind": model.kind, "params": dict(model.params),
                                          "weights": dict(zip(model.features, model.weights))},
                     "best": best, "cifar10_test": truth[best],
                     "best_labelled_cifar10_test": max(truth[a] for a in labelled),
                     "evaluated": res.evaluated, "fit_seconds": round(t_fit, 1),
                     "seconds": round(time.perf_counter() - t0, 1)})
        accs = [r["cifar10_test"] for r in runs]
        doc = {
            "benchmark": "calibrated search on NAS-Bench-201",
            "k": args.k, "budget": args.budget, "search_budget": args.budget - args.k,
            "strategy": args.strategy, "features": features, "batch_size": args.batch_size,
            "accuracy": "nasbench201/accuracies.csv cifar10_test", "device": "cpu",
            "seeds": [r["seed"] for r in runs],
            "median": statistics.median(accs), "min": min(accs), "max": max(accs),
            "best_labelled_median": statistics.median(r["best_labelled_cifar10_test"]
                                                      for r in runs),
            "zero_shot_same_budget": [z for z in (zero_shot(p, args.budget, args.strategy)
                                                  for p in ("nasx-top", "nasx-ens",
                                                            "gradalign-i")) if z],
            "runs": runs,
        }
        write_results(args.out, doc)
        print(f"seed {s}: {best} cifar10_test {truth[best]:.2f} (best labelled "
              f"{runs[-1]['best_labelled_cifar10_test']:.2f}; model {model.kind}; "
              f"{runs[-1]['seconds']:.0f} s)", flush=True)
    print(json.dumps({k: doc[k] for k in ("median", "min", "max", "best_labelled_median")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
