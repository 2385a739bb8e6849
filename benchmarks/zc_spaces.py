"""Every per-model proxy of nasx on the cells of NASLib's NAS-Bench-Suite-Zero sets: NB301 (DARTS),
NB101 and NB201, with NASLib's own scores of the same cells beside.

Two phases:

* ``--score SPACE``: scores the cells of NASLib's set of ``SPACE`` (``nb301``, ``nb101``,
  ``nb201``: ``zc_nasbench{301,101,201}.csv``; NB201: the CIFAR-10 rows) with ``--proxies`` (one
  network, one probe batch and one initialisation per cell, shared by all proxies, as ``nasx
  score`` does), in a seeded random order, appending one row per cell to
  ``benchmarks/results/zc_scores_SPACE_cpu.csv`` as it goes, until every cell is scored or
  ``--time-budget`` seconds have passed. Rerunning resumes after the last written cell. Because
  the order is random, the scored cells are a uniform random subset of NASLib's set when the
  budget cuts the run; the table says how many there are.
* ``--table SPACE``: reads that CSV and writes ``benchmarks/results/zc_spaces_SPACE.json``: for
  every nasx proxy, every nasx ensemble that its columns can form, and every NASLib score column
  (``naslib:NAME``), on the same cells: Kendall tau and Spearman rho against the accuracy,
  ``kendall_top10`` (Kendall tau among the cells whose accuracy is in the best tenth), and
  ``partial_kendall_params`` (the partial Kendall tau of the proxy and the accuracy given nasx's
  ``params``: what the proxy knows beyond size), and ``kendall_param_free_heavy`` (Kendall tau
  among the cells whose fraction of parameter-free operations -- skip, pooling, none -- is at or
  above the median: the cells where size says least). Failed scores rank last.

Accuracy: NB301 and NB101 NASLib's ``val_accuracy`` label of the file; NB201 the seed-averaged
``cifar10_test`` of ``nasbench201/accuracies.csv``. Networks: nasx's defaults of each space
(DARTS: C=16, 8 cells; NB101: 128 stem channels, 3 stacks of 3 cells; NB201: C=16, 5 cells per
stage), 10 classes, probe batch ``--batch-size`` (64) of CIFAR-10 (``cifar10/probe_train.npz``),
seed 0, CPU with ``--threads`` torch threads.

Run:
    python benchmarks/zc_spaces.py --score nb301 --time-budget 2700
    python benchmarks/zc_spaces.py --table nb301
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO, shared_file, write_results  # noqa: E402  (puts this checkout first)
from scipy import stats
from zc_tables import failed_last, partial_kendall  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
#: every per-model proxy of nasx but grasp (3-5 s a DARTS cell, and NASLib's grasp is beside)
PROXIES = ("az-complexity", "az-expressivity", "az-progressivity", "az-trainability", "fisher",
           "flops", "grad-norm", "gradalign-i", "gradalign-i-frac", "gradalign-ii",
           "gradalign-ii-norm", "gradsign", "jacob-cov", "linear-regions", "meco", "naswot",
           "params", "snip", "synflow", "vkdnw-dim", "zen", "zico")
SPACES = {"nb301": ("darts", "zc_nasbench301.csv"),
          "nb101": ("nasbench101", "zc_nasbench101.csv"),
          "nb201": ("nasbench201", "zc_nasbench201.csv")}
NASLIB = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacob_cov", "jacov", "l2_norm",
          "nwot", "params", "plain", "snip", "synflow")


def naslib_rows(space: str) -> list[dict[str, Any]]:
    """NASLib's rows of ``space``: ``idx``, nasx's ``arch`` text, ``accuracy``, its scores."""
    _, file = SPACES[space]
    with open(shared_file("nasbench_suite_zero", file), newline="") as f:
        rows = list(csv.DictReader(f))
    truth = None
    if space == "nb201":
        rows = [r for r in rows if r["dataset"] == "cifar10"]
        with open(shared_file("nasbench201", "accuracies.csv"), newline="") as f:
            truth = {r["arch"]: float(r["cifar10_test"]) for r in csv.DictReader(f)}
    out = []
    for i, r in enumerate(rows):
        if space == "nb301":
            arch = r["genotype"]
        elif space == "nb101":
            arch = json.dumps({"matrix": json.loads(r["adjacency"]), "ops": json.loads(r["ops"])},
                              separators=(",", ":"))
        else:
            arch = r["arch"]
        acc = truth[arch] if truth is not None else float(r["val_accuracy"])
        scores = {k: float(r[k]) for k in NASLIB if r.get(k, "") not in ("",)}
        out.append({"idx": i, "arch": arch, "accuracy": acc, "naslib": scores})
    return out


def scores_path(space: str) -> Path:
    return RESULTS / f"zc_scores_{space}_cpu.csv"


def open_session(args: argparse.Namespace) -> Any:
    """The scoring session of every cell: CPU with ``--threads`` torch threads, a batch of
    ``--batch-size`` CIFAR-10 probe images, seed ``--seed``, no store."""
    import torch

    torch.set_num_threads(args.threads)
    from nasx.engine.session import Session
    from nasx.settings import RunSettings

    return Session(RunSettings(data=str(shared_file("cifar10", "probe_train.npz")),
                               batch_size=args.batch_size, seed=args.seed, device="cpu",
                               store=False))


def value_of(result: Any) -> float:
    """A score result's value as a float, NaN where it failed."""
    return float(result.value) if result.ok else math.nan


def score(space: str, args: argparse.Namespace) -> None:
    rows = naslib_rows(space)
    order = np.random.default_rng(args.seed).permutation(len(rows))
    path = scores_path(space)
    done: set[int] = set()
    if path.exists():
        with open(path, newline="") as f:
            done = {int(r["idx"]) for r in csv.DictReader(f)}
    proxies = list(args.proxies.split(","))
    new = not path.exists()
    session = open_session(args)
    start = time.perf_counter()
    n_new = 0
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["idx", "arch", "accuracy", "seconds", *proxies])
        for pos in order:
            if int(pos) in done:
                continue
            if time.perf_counter() - start > args.time_budget:
                break
            row = rows[int(pos)]
            t0 = time.perf_counter()
            res = session.score([row["arch"]], SPACES[space][0], proxies)
            by = {r.proxy: value_of(r) for r in res}
            w.writerow([row["idx"], row["arch"], row["accuracy"],
                        round(time.perf_counter() - t0, 3), *(repr(by[p]) for p in proxies)])
            f.flush()
            n_new += 1
            print(f"{space}: {len(done) + n_new}/{len(rows)} cells "
                  f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    session.close()
    print(f"{space}: scored {n_new} new cells, {len(done) + n_new} of {len(rows)} in {path}")


def fill(space: str, args: argparse.Namespace) -> None:
    """Score ``--proxies`` again on the cells of the CSV where they failed (NaN), with the same
    settings, and rewrite the CSV (e.g. after a fix that lets a proxy score a network)."""
    path = scores_path(space)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols = list(rows[0])
    proxies = [p for p in args.proxies.split(",") if p in cols]
    todo = [r for r in rows if any(math.isnan(float(r[p])) for p in proxies)]
    session = open_session(args)
    for i, row in enumerate(todo):
        want = [p for p in proxies if math.isnan(float(row[p]))]
        for r in session.score([row["arch"]], SPACES[space][0], want):
            row[r.proxy] = repr(value_of(r))
        print(f"{space}: filled {i + 1}/{len(todo)}", file=sys.stderr, flush=True)
    session.close()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)
    print(f"{space}: {len(todo)} cells filled for {', '.join(proxies)}")


def oriented(v: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Higher-is-better values, failures (non-finite) below every finite one."""
    return failed_last(np.asarray(v, dtype=np.float64) * (1.0 if higher_is_better else -1.0))


def param_free_fraction(space: str, arch: str) -> float:
    """Fraction of the cell's operations without parameters: NB301 the normal cell's
    ``skip_connect``/``max_pool_3x3``/``avg_pool_3x3``/``none`` of its 8 ops, NB101 the max-pool
    vertices among the interior ones, NB201 ``none``/``skip_connect``/``avg_pool_3x3`` of 6."""
    if space == "nb301":
        normal = arch.split("normal_concat")[0]
        ops = re.findall(r"\('(\w+)'", normal)
        free = sum(o in ("skip_connect", "max_pool_3x3", "avg_pool_3x3", "none") for o in ops)
        return free / max(1, len(ops))
    if space == "nb101":
        ops = json.loads(arch)["ops"][1:-1]
        return sum(o == "maxpool3x3" for o in ops) / max(1, len(ops))
    ops = [e.split("~")[0] for e in arch.strip("|").replace("|+|", "|").split("|")]
    return sum(o in ("none", "skip_connect", "avg_pool_3x3") for o in ops) / len(ops)


def metrics(o: np.ndarray, acc: np.ndarray, params: np.ndarray, failed: int,
            heavy: np.ndarray) -> dict[str, Any]:
    top = acc >= np.quantile(acc, 0.9)
    r = {"kendall": float(stats.kendalltau(o, acc).statistic),
         "spearman": float(stats.spearmanr(o, acc).statistic),
         "kendall_top10": float(stats.kendalltau(o[top], acc[top]).statistic),
         "partial_kendall_params": partial_kendall(o, acc, params),
         "kendall_param_free_heavy": float(stats.kendalltau(o[heavy], acc[heavy]).statistic),
         "failed": failed}
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}


def table(space: str, args: argparse.Namespace) -> None:
    from nasx.proxies.base import get_proxy
    from nasx.proxies.ensemble import Ensemble

    path = scores_path(space)
    with open(path, newline="") as f:
        got = list(csv.DictReader(f))
    if len(got) < 10:
        raise SystemExit(f"{path}: {len(got)} cells; score more first")
    by_idx = {r["idx"]: r for r in naslib_rows(space)}
    acc = np.array([float(r["accuracy"]) for r in got])
    names = [c for c in got[0] if c not in ("idx", "arch", "accuracy", "seconds")]
    raw = {p: np.array([float(r[p]) for r in got]) for p in names}
    up = {p: get_proxy(p).higher_is_better for p in names}
    params = raw["params"]
    free = np.array([param_free_fraction(space, r["arch"]) for r in got])
    heavy = free >= np.median(free)
    out: dict[str, Any] = {}
    for p in names:
        out[p] = metrics(oriented(raw[p], up[p]), acc, params, int((~np.isfinite(raw[p])).sum()),
                         heavy)
    for name in ("nasx-ens", "nasx-top", "nasx-cross"):
        ens = get_proxy(name).combine
        if isinstance(ens, Ensemble) and all(m in raw for m in ens.members):
            out[name] = metrics(ens({m: raw[m] for m in ens.members}), acc, params, 0, heavy)
    naslib_cols = sorted({k for r in got for k in by_idx[int(r["idx"])]["naslib"]})
    for c in naslib_cols:
        v = np.array([by_idx[int(r["idx"])]["naslib"].get(c, math.nan) for r in got])
        v = np.where(np.isposinf(v), np.nan, v)
        out[f"naslib:{c}"] = metrics(oriented(v, True), acc, params, int((~np.isfinite(v)).sum()),
                                     heavy)
    secs = np.array([float(r["seconds"]) for r in got])
    best_nasx = max((k for k in out if not k.startswith("naslib:")),
                    key=lambda k: out[k]["kendall"])
    best_naslib = max((k for k in out if k.startswith("naslib:")), key=lambda k: out[k]["kendall"])
    doc = {
        "space": space, "nasx_space": SPACES[space][0], "cells": len(got),
        "cells_in_set": len(by_idx), "scores_file": str(path.relative_to(REPO)),
        "accuracy": ("nasbench201/accuracies.csv cifar10_test" if space == "nb201"
                     else f"NASLib val_accuracy ({SPACES[space][1]})"),
        "seconds_per_cell_median": round(float(np.median(secs)), 2),
        "param_free_heavy": {"cells": int(heavy.sum()), "rule": "parameter-free op fraction at "
                             f"or above the median ({float(np.median(free)):.3f}); see "
                             "param_free_fraction"},
        "best_nasx": best_nasx, "best_naslib": best_naslib,
        "params_kendall": out["params"]["kendall"],
        "proxies": dict(sorted(out.items(), key=lambda kv: -kv[1]["kendall"])),
    }
    write_results(RESULTS / f"zc_spaces_{space}.json", doc)
    print(f"{space}: {len(got)} cells; best nasx {best_nasx} {out[best_nasx]['kendall']}, "
          f"best NASLib {best_naslib} {out[best_naslib]['kendall']}, "
          f"params {out['params']['kendall']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--score", choices=sorted(SPACES), help="score the cells of this set")
    ap.add_argument("--table", choices=sorted(SPACES), help="write the table of this set")
    ap.add_argument("--fill", choices=sorted(SPACES),
                    help="score --proxies again where they failed in this set's CSV")
    ap.add_argument("--proxies", default=",".join(PROXIES))
    ap.add_argument("--time-budget", type=float, default=3600.0, help="seconds of scoring")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if not (args.score or args.table or args.fill):
        ap.error("give --score SPACE, --fill SPACE and/or --table SPACE")
    if args.score:
        score(args.score, args)
    if args.fill:
        fill(args.fill, args)
    if args.table:
        table(args.table, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
