"""A zero-shot ensemble chosen across spaces: select on two spaces, test on the third.

The rule, fixed before the run:

* **Spaces**: NAS-Bench-201 (NASLib's CIFAR-10 sample, accuracy ``cifar10_test``),
  NAS-Bench-101 (NASLib's 500 cells) and DARTS / NAS-Bench-301 (NASLib's 725 cells); see
  ``benchmarks/zc_tables.py``. The features are **NASLib's precomputed scores**.
* **Candidates**: the features NASLib computed on all three spaces that nasx also implements:
  synflow, jacov (jacob-cov), snip, grad_norm (grad-norm), fisher, grasp, params, flops. (nwot,
  nasx's naswot, is absent from NASLib's NAS-Bench-101 file; zen from all three.)
  With ``--features nasx`` the features are **nasx's own scores** of NASLib's cells
  (``benchmarks/zc_spaces.py``: every per-model proxy of nasx but grasp, on a seeded random
  subset of each set where the scoring budget ended first) and the candidates are every proxy
  scored on all three spaces, ``params`` and ``flops`` first and then by name, less any whose
  values equal an earlier candidate's everywhere (az-complexity is flops). Everything else in
  the rule is the same.
* **Ensemble**: equal-weight ``log-rank`` aggregation (:class:`nasx.proxies.ensemble.Ensemble`,
  nasx's default), NASLib's columns oriented higher-is-better.
* **Selection**: greedy forward selection from the empty set; each step adds the candidate
  that most raises the MEAN over the selection spaces of the ensemble's Kendall tau-b against
  accuracy (ties: the earlier candidate in the order above); it stops when the best addition
  gains less than ``--min-gain`` (0.002) or no candidate is left.
* **Test**: each space is held out in turn; the ensemble selected on the other two is
  reported on it beside ``params``, the single candidate with the best mean tau on the
  selection spaces (``best_single_on_selection``) and the single feature with the best tau on
  the held-out space itself (``best_single_posthoc``, chosen after the fact, any NASLib feature).
  The held-out NB201 CIFAR-100 and ImageNet16-120 samples are reported too when NB201 is held
  out.
* **Held-out cells of seen spaces** (``--split-halves S``, added after the first
  ``--features nasx`` run, which had only the leave-one-space-out test): for split seeds
  ``0..S-1`` every space's cells are cut in two random halves, the rule selects on the three
  selection halves together and the chosen ensemble and params are scored on each test half.
* **Default for new spaces**: the same rule run on all three spaces (``final``); the
  leave-one-space-out results are its estimate on an unseen space. The ``final`` choice of the
  ``--features nasx`` run defines the members of ``nasx-cross`` (what ``--proxy auto`` resolves
  to): those are the values nasx computes, whereas NASLib's scores come from its own networks,
  initialisations and probe batches. Its members are mapped to
  nasx's proxy names, and the mapped ensemble is also scored on nasx's own scores of 1000
  NAS-Bench-201 cells (``benchmarks/results/nb201_scores_cpu.csv``), with nasx-ens and nasx-top
  beside it (those two were chosen on half of these very cells).

Also per space (every feature of that space): Kendall tau, the partial Kendall tau given
``params`` (``(t_xy - t_xz t_yz) / sqrt((1 - t_xz^2)(1 - t_yz^2))``: what a proxy knows beyond
size), and the Kendall tau among the best tenth of the cells (accuracy at or above the 0.9
quantile).

Example:
    python benchmarks/ensemble_cross_space.py --out benchmarks/results/ensemble_cross_space.json
"""

from __future__ import annotations

import argparse
import json
import math
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

from zc_tables import (  # noqa: E402
    NASLIB_TO_NASX,
    Task,
    failed_last,
    kendall,
    load_nasx_scores,
    load_nb101,
    load_nb201_naslib,
    load_nb201_nasx,
    load_nb301,
    oriented,
    partial_kendall,
)

from nasx.proxies.ensemble import Ensemble  # noqa: E402

CANDIDATES = ("synflow", "jacov", "snip", "grad_norm", "fisher", "grasp", "params", "flops")


def kendall_top(x: np.ndarray, y: np.ndarray, q: float = 0.9) -> float:
    top = y >= np.quantile(y, q)
    return kendall(failed_last(x)[top], y[top])


def ens_values(task: Task, members: list[str]) -> np.ndarray:
    e = Ensemble(members, [1.0] * len(members), "log-rank",
                 {m: task.higher_is_better[m] for m in members})
    return e({m: task.features[m] for m in members})


def ens_tau(task: Task, members: list[str]) -> float:
    return kendall(ens_values(task, members), task.acc)


def greedy(tasks: list[Task], min_gain: float, candidates: tuple[str, ...] = CANDIDATES
           ) -> tuple[list[str], list[dict[str, Any]]]:
    chosen: list[str] = []
    best = -math.inf
    trace = []
    while True:
        left = [c for c in candidates if c not in chosen]
        if not left:
            break
        scored = []
        for c in left:
            per = [ens_tau(t, chosen + [c]) for t in tasks]
            scored.append((float(np.mean(per)), -candidates.index(c), c, per))
        mean, _, c, per = max(scored)
        if chosen and mean - best < min_gain:
            trace.append({"stopped": True, "best_addition": c, "mean_kendall": round(mean, 4),
                          "gain": round(mean - best, 4)})
            break
        chosen.append(c)
        trace.append({"members": list(chosen), "mean_kendall": round(mean, 4),
                      "per_space": {t.name: round(v, 4) for t, v in zip(tasks, per)}})
        best = mean
    return chosen, trace


def per_space_table(task: Task) -> dict[str, Any]:
    p = task.features["params"]
    rows = {}
    for f in task.features:
        x = oriented(task, f)
        rows[f] = {"kendall": round(kendall(x, task.acc), 4),
                   "partial_kendall_given_params": (None if f == "params" else
                                                    round(partial_kendall(x, task.acc, p), 4)),
                   "kendall_top10pct": round(kendall_top(x, task.acc), 4)}
    return dict(sorted(rows.items(), key=lambda kv: -kv[1]["kendall"]))


def report(task: Task, members: list[str], selection: list[Task],
           candidates: tuple[str, ...] = CANDIDATES) -> dict[str, Any]:
    single_sel = max(candidates, key=lambda c: (np.mean([kendall(oriented(t, c), t.acc)
                                                         for t in selection]),
                                                -candidates.index(c)))
    taus = {f: kendall(oriented(task, f), task.acc) for f in task.features}
    post = max(taus, key=lambda f: taus[f])
    ev = ens_values(task, members)
    return {
        "n": len(task.acc),
        "ensemble": {"kendall": round(kendall(ev, task.acc), 4),
                     "kendall_top10pct": round(kendall_top(ev, task.acc), 4)},
        "params": {"kendall": round(taus["params"], 4),
                   "kendall_top10pct": round(kendall_top(task.features["params"], task.acc), 4)},
        "best_single_on_selection": {"feature": single_sel,
                                     "kendall": round(taus[single_sel], 4)},
        "best_single_posthoc": {"feature": post, "kendall": round(taus[post], 4)},
    }


def subset(task: Task, idx: np.ndarray, label: str) -> Task:
    """The task restricted to the cells ``idx``."""
    return Task(f"{task.name}[{label}]", task.space, [task.archs[i] for i in idx], task.acc[idx],
                {f: v[idx] for f, v in task.features.items()}, task.higher_is_better,
                task.source, task.accuracy)


def split_halves(spaces: dict[str, Task], seeds: int, min_gain: float,
                 candidates: tuple[str, ...]) -> dict[str, Any]:
    """The rule run on a seeded random half of every space's cells, tested on the other half
    of each (held-out cells of every space, each space seen at selection): per split seed the
    members and, per space, the test-half Kendall tau of the ensemble and of params."""
    splits = []
    for seed in range(seeds):
        sel, test = {}, {}
        for n, t in spaces.items():
            perm = np.random.default_rng([seed, len(t.acc)]).permutation(len(t.acc))
            half = len(perm) // 2
            sel[n], test[n] = subset(t, perm[:half], "sel"), subset(t, perm[half:], "test")
        members, _ = greedy(list(sel.values()), min_gain, candidates)
        splits.append({"seed": seed, "members": members, "test": {
            n: {"n": len(t.acc), "ensemble": round(ens_tau(t, members), 4),
                "params": round(kendall(t.features["params"], t.acc), 4)}
            for n, t in test.items()}})
    gains = {n: [s["test"][n]["ensemble"] - s["test"][n]["params"] for s in splits]
             for n in spaces}
    return {"splits": splits,
            "gain_over_params": {n: {"mean": round(float(np.mean(g)), 4),
                                     "min": round(float(np.min(g)), 4),
                                     "max": round(float(np.max(g)), 4)}
                                 for n, g in gains.items()}}


def nasx_candidates(tasks: list[Task]) -> tuple[str, ...]:
    """The proxies scored on every task, ``params`` and ``flops`` first and then by name, less
    any whose values equal an earlier candidate's on every task (e.g. az-complexity = flops)."""
    common = set.intersection(*(set(t.features) for t in tasks))
    order = [c for c in ("params", "flops") if c in common] + sorted(common - {"params", "flops"})
    out: list[str] = []
    for c in order:
        if not any(all(np.array_equal(t.features[c], t.features[o], equal_nan=True)
                       for t in tasks) for o in out):
            out.append(c)
    return tuple(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-gain", type=float, default=0.002)
    ap.add_argument("--features", choices=("naslib", "nasx"), default="naslib",
                    help="NASLib's precomputed scores, or nasx's own (benchmarks/zc_spaces.py)")
    ap.add_argument("--split-halves", type=int, default=0, metavar="SEEDS",
                    help="also run the rule on half of every space's cells and test on the "
                         "other halves, for this many split seeds")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    t0 = time.time()
    if args.features == "nasx":
        spaces = {n: load_nasx_scores(n) for n in ("nb201", "nb101", "nb301")}
        extra_nb201: list[Task] = []
        candidates = nasx_candidates(list(spaces.values()))
        to_nasx = {c: c for c in candidates}
    else:
        spaces = {"nb201": load_nb201_naslib("cifar10"), "nb101": load_nb101(),
                  "nb301": load_nb301()}
        extra_nb201 = [load_nb201_naslib("cifar100"), load_nb201_naslib("ImageNet16-120")]
        candidates = CANDIDATES
        to_nasx = NASLIB_TO_NASX
    for t in spaces.values():
        missing = [c for c in candidates if c not in t.features]
        if missing:
            raise SystemExit(f"{t.name}: missing candidate features {missing}")

    held_out = {}
    for out_name, test in spaces.items():
        sel = [t for n, t in spaces.items() if n != out_name]
        members, trace = greedy(sel, args.min_gain, candidates)
        entry = {"selection_spaces": [t.name for t in sel], "members": members,
                 "nasx_members": [to_nasx[m] for m in members], "trace": trace,
                 "test": {test.name: report(test, members, sel, candidates)}}
        if out_name == "nb201":
            for t in extra_nb201:
                entry["test"][t.name] = report(t, members, sel, candidates)
        held_out[out_name] = entry

    members, trace = greedy(list(spaces.values()), args.min_gain, candidates)
    nasx_members = [to_nasx[m] for m in members]
    nasx_task = load_nb201_nasx()
    on_nasx = {}
    for label, ms in (("nasx-cross (mapped)", nasx_members),
                      ("nasx-ens", None), ("nasx-top", None)):
        if ms is None:
            from nasx.proxies.ensembles import NASX_ENS_MEMBERS, NASX_TOP_MEMBERS

            ms = list(NASX_ENS_MEMBERS if label == "nasx-ens" else NASX_TOP_MEMBERS)
        v = ens_values(nasx_task, ms)
        on_nasx[label] = {"members": ms, "kendall": round(kendall(v, nasx_task.acc), 4),
                          "kendall_top10pct": round(kendall_top(v, nasx_task.acc), 4)}
    on_nasx["params"] = {"kendall": round(kendall(nasx_task.features["params"],
                                                  nasx_task.acc), 4)}

    doc = {
        "benchmark": "zero-shot ensemble selected on two spaces, tested on the third "
                     "(benchmarks/ensemble_cross_space.py)",
        "rule": "greedy forward selection of an equal-weight log-rank ensemble maximising the "
                "mean Kendall tau over the selection spaces; stop when the best addition gains "
                f"less than {args.min_gain}; candidates {list(candidates)}",
        "features": args.features,
        "note": ("Features are NASLib's precomputed zero-cost scores (NAS-Bench-Suite-Zero) on "
                 "NASLib's samples of each space, not nasx's scores; 'nasx_check' scores the "
                 "mapped ensemble on nasx's own NB201 scores." if args.features == "naslib" else
                 "Features are nasx's own scores of NASLib's cells of each space "
                 "(benchmarks/zc_spaces.py; a seeded random subset where the scoring budget "
                 "ended first); 'nasx_check' scores the ensemble on nasx's own scores of 1000 "
                 "other NB201 cells."),
        "spaces": {n: {"task": t.name, "n": len(t.acc), "features_source": t.source,
                       "accuracy": t.accuracy} for n, t in spaces.items()},
        "held_out": held_out,
        "final": {"members": members, "nasx_members": nasx_members, "trace": trace,
                  "per_space": {n: report(t, members, list(spaces.values()), candidates)
                                for n, t in spaces.items()}},
        "nasx_check_nb201": {"cells": len(nasx_task.acc), "accuracy": nasx_task.accuracy,
                             "ensembles": on_nasx},
        "split_halves": (split_halves(spaces, args.split_halves, args.min_gain, candidates)
                         if args.split_halves else None),
        "per_space_features": {t.name: per_space_table(t)
                               for t in list(spaces.values()) + extra_nb201 + [nasx_task]},
        "seconds": round(time.time() - t0, 1),
        "env": {"python": platform.python_version(), "numpy": np.__version__},
        "command": "python benchmarks/ensemble_cross_space.py "
                   + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
    }
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    for n, e in held_out.items():
        print(f"held out {n}: members {e['members']}")
        for tn, r in e["test"].items():
            print(f"  {tn}: ens {r['ensemble']['kendall']:.3f}  params {r['params']['kendall']:.3f}"
                  f"  single-on-sel {r['best_single_on_selection']}  "
                  f"posthoc {r['best_single_posthoc']}")
    print("final:", members, "->", nasx_members)
    if args.split_halves:
        print("split halves, test-half gain over params:",
              json.dumps(doc["split_halves"]["gain_over_params"]))
    print(json.dumps(on_nasx))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
