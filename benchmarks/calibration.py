"""Few-label calibration (:mod:`nasx.calibrate`) against zero-shot proxies, on three spaces.

For every task of a space (see ``benchmarks/zc_tables.py``; nothing is scored here, the
features are per-architecture scores read from files), for K in ``--ks`` labels and each seed in
``--seeds``: K architectures are drawn uniformly without replacement
(``numpy.random.default_rng([seed, K])``); their accuracies are the only labels used.
:func:`nasx.calibrate.fit` fits and selects a model on them (its rule: pooled out-of-fold
Kendall tau over at most 10 folds) with every feature of the task (``params`` and ``flops``
included). The quantile maps use the features of all the task's architectures as the
unlabelled reference (``calibrated``; no label of the remaining cells is used), and, as a check,
the K labelled architectures only (``calibrated_labelled_ref``).

On the REMAINING architectures (all but the K) the script reports the Kendall tau-b against the
accuracy of: the calibrated model; ``params``; the single feature with the highest Kendall tau
on those remaining cells (``best_single_posthoc``: chosen after the fact, an upper bound for any
zero-shot choice of one feature); the single feature with the highest tau on the K labels
(``best_single_on_labels``: what the K labels pick without a model); plus the tau among the
best tenth of the remaining cells (accuracy at or above their 0.9 quantile) for the calibrated
model and ``params``. Features keep their declared orientation (NASLib's columns: higher is
better); a missing value ranks last. Per K: mean, sample std, min and max over the seeds.

For NAS-Bench-101 and DARTS (NAS-Bench-301) and the ``nb201-naslib-*`` tasks the features are
**NASLib's precomputed zero-cost scores** (NAS-Bench-Suite-Zero), not nasx's; ``nb201-nasx``
uses nasx's own scores of 1000 NAS-Bench-201 cells. With ``--features nasx`` the one task is
nasx's own scores of NASLib's cells of the space (``benchmarks/zc_spaces.py``, every per-model
proxy of nasx but grasp), ``{space}-nasx``.

Example:
    python benchmarks/calibration.py --space nb301 --out benchmarks/results/calibration_nb301.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from zc_tables import Task, failed_last, kendall, load, load_nasx_scores, oriented  # noqa: E402

from nasx.calibrate import fit  # noqa: E402


def kendall_top(x: np.ndarray, y: np.ndarray, q: float = 0.9) -> float:
    top = y >= np.quantile(y, q)
    return kendall(failed_last(x)[top], y[top])


def one_run(task: Task, k: int, seed: int) -> dict[str, Any]:
    n = len(task.acc)
    lab = np.sort(np.random.default_rng([seed, k]).choice(n, k, replace=False))
    rest = np.setdiff1d(np.arange(n), lab)
    y_lab, y_rest = task.acc[lab], task.acc[rest]
    archs = [task.archs[i] for i in lab]
    feats_lab = {f: v[lab] for f, v in task.features.items()}
    out: dict[str, Any] = {"seed": seed, "k": k, "n_remaining": len(rest)}
    for key, ref in (("calibrated", task.features), ("calibrated_labelled_ref", None)):
        m = fit(feats_lab, y_lab, archs=archs, seed=seed, reference=ref,
                extra={"task": task.name})
        pred = m({f: v[rest] for f, v in task.features.items()})
        out[key] = kendall(pred, y_rest)
        if key == "calibrated":
            out["calibrated_top"] = kendall_top(pred, y_rest)
            out["model"] = {"kind": m.kind, "params": dict(m.params),
                            "weights": {f: round(w, 4) for f, w in zip(m.features, m.weights)
                                        if w != 0.0}}
    taus_rest = {f: kendall(oriented(task, f)[rest], y_rest) for f in task.features}
    taus_lab = {f: kendall(oriented(task, f)[lab], y_lab) for f in task.features}
    post = max(taus_rest, key=lambda f: taus_rest[f])
    on_lab = max(taus_lab, key=lambda f: taus_lab[f])
    out["params"] = taus_rest["params"]
    out["params_top"] = kendall_top(task.features["params"][rest], y_rest)
    out["best_single_posthoc"] = {"feature": post, "kendall": taus_rest[post]}
    out["best_single_on_labels"] = {"feature": on_lab, "kendall": taus_rest[on_lab]}
    return out


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def stat(vals: list[float]) -> dict[str, float]:
        a = np.array(vals)
        return {"mean": round(float(a.mean()), 4),
                "std": round(float(a.std(ddof=1)) if len(a) > 1 else 0.0, 4),
                "min": round(float(a.min()), 4), "max": round(float(a.max()), 4)}

    out = {key: stat([r[key] for r in runs]) for key in
           ("calibrated", "calibrated_labelled_ref", "calibrated_top", "params", "params_top")}
    for key in ("best_single_posthoc", "best_single_on_labels"):
        out[key] = stat([r[key]["kendall"] for r in runs])
        out[key]["features"] = sorted({r[key]["feature"] for r in runs})
    out["calibrated_minus_best_single_posthoc"] = stat(
        [r["calibrated"] - r["best_single_posthoc"]["kendall"] for r in runs])
    out["calibrated_minus_params"] = stat([r["calibrated"] - r["params"] for r in runs])
    kinds: dict[str, int] = {}
    for r in runs:
        kinds[r["model"]["kind"]] = kinds.get(r["model"]["kind"], 0) + 1
    out["chosen_kinds"] = kinds
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", required=True, choices=("nb201", "nb101", "nb301"))
    ap.add_argument("--features", choices=("naslib", "nasx"), default="naslib",
                    help="the space's tasks (NASLib's scores; NB201 also nasx's 1000 cells), or "
                         "nasx's own scores of NASLib's cells (benchmarks/zc_spaces.py)")
    ap.add_argument("--ks", default="10,20,50,100")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    ks = [int(k) for k in args.ks.split(",")]
    t0 = time.time()
    tasks = {}
    loaded = [load_nasx_scores(args.space)] if args.features == "nasx" else load(args.space)
    for task in loaded:
        runs = [one_run(task, k, s) for k in ks for s in range(args.seeds)]
        full = {f: kendall(oriented(task, f), task.acc) for f in task.features}
        tasks[task.name] = {
            "space": task.space, "n": len(task.acc), "features_source": task.source,
            "accuracy": task.accuracy, "features": sorted(task.features),
            "kendall_all_cells": {f: round(t, 4) for f, t in
                                  sorted(full.items(), key=lambda kv: -kv[1])},
            "by_k": {str(k): summary([r for r in runs if r["k"] == k]) for k in ks},
            "runs": runs,
        }
    doc = {
        "benchmark": "few-label calibration vs zero-shot proxies (benchmarks/calibration.py)",
        "space": args.space,
        "note": "Features are per-architecture scores read from files, nothing is scored. "
                "For the nb201-naslib-*, nb101 and nb301 tasks the features are NASLib's "
                "precomputed zero-cost scores (NAS-Bench-Suite-Zero), not nasx's; nb201-nasx "
                "uses nasx's own scores; {space}-nasx tasks (--features nasx) nasx's own scores of "
                "NASLib's cells (benchmarks/zc_spaces.py). Kendall tau on the cells not labelled.",
        "ks": ks, "seeds": list(range(args.seeds)), "tasks": tasks,
        "seconds": round(time.time() - t0, 1),
        "env": {"python": platform.python_version(), "numpy": np.__version__,
                "machine": platform.machine()},
        "command": "python benchmarks/calibration.py "
                   + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
    }
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    for name, t in tasks.items():
        print(name, t["n"])
        for k, s in t["by_k"].items():
            print(f"  K={k:>3} cal {s['calibrated']['mean']:.3f}±{s['calibrated']['std']:.3f}"
                  f"  best-single-posthoc {s['best_single_posthoc']['mean']:.3f}"
                  f"  on-labels {s['best_single_on_labels']['mean']:.3f}"
                  f"  params {s['params']['mean']:.3f}  kinds {s['chosen_kinds']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
