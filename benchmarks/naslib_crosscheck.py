"""Cross-check nasx's classic zero-cost proxies against NASLib's precomputed scores.

NAS-Bench-Suite-Zero (NASLib, ``zerocost`` branch) stores, for 724 NAS-Bench-201 CIFAR-10 cells,
the scores of fisher, grad_norm, grasp, jacov, nwot, snip, synflow, params and flops computed
with NASLib's implementations (``naslib/predictors/pruners/measures/*.py``). This script scores a
seeded sample of those cells with nasx's proxies on the same NAS-Bench-201 network
(C=16, N=5, 10 classes) and prints, per proxy:

* the Spearman rho between nasx's score and NASLib's, cell by cell (NASLib's ``-1e8`` failure
  sentinel is treated as a failure and the cell is left out of that proxy's rho);
* the Kendall tau (oriented by the declared ``higher_is_better``) of nasx's and of NASLib's score
  against the NAS-Bench-201 ground truth ``cifar10_test`` (failures ranked last);
* optionally (``--retest-seed``) the Spearman rho of nasx's score with itself under another
  weight initialisation and another probe batch: the agreement that two runs of the *same*
  definition reach, i.e. the ceiling for the rho against NASLib (whose weights and batch differ
  from ours by construction).

NASLib's settings, matched by default: one batch of 32 CIFAR-10 training images (the config
default ``batch_size: 32`` of ``scripts/create_configs_*.py``; NASLib's datasheet says 64, but the
stored ``jacov`` values exceed -64, which is impossible with 64 images: the score is at most
``-N``), drawn uniformly (not class-balanced) and augmented as NASLib's CIFAR-10 training
transform (random 32x32 crop of the image zero-padded by 4, random horizontal flip), normalised
with the CIFAR-10 mean/std; cross-entropy loss; networks in training mode. The images come from
``cifar10/probe_train.npz`` (JPEG-decoded CIFAR-10 training images).

Run (one CPU thread; about 5-15 s per cell for all proxies)::

    OMP_NUM_THREADS=1 python benchmarks/naslib_crosscheck.py --n 100 --seed 0 \
        --batch-size 32 --threads 1

The JSON report goes to ``benchmarks/results/naslib_crosscheck.json`` unless ``--out`` says
otherwise; it records the command that reruns it.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import shared_root  # noqa: E402  (puts this checkout first)
from scipy import stats

#: NASLib column -> nasx proxy
NAME_MAP = {
    "fisher": "fisher",
    "grad_norm": "grad-norm",
    "grasp": "grasp",
    "jacov": "jacob-cov",
    "nwot": "naswot",
    "snip": "snip",
    "synflow": "synflow",
    "params": "params",
    "flops": "flops",
}
NASLIB_FAILURE = -1e8

REPO = Path(__file__).resolve().parents[1]


def read_naslib_rows(path: Path, dataset: str = "cifar10") -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["dataset"] == dataset]


def read_truth(path: Path, column: str = "cifar10_test") -> dict[int, float]:
    with open(path, newline="", encoding="utf-8") as f:
        return {int(r["index"]): float(r[column]) for r in csv.DictReader(f)}


def naslib_like_batch(npz: Path, batch_size: int, seed: int, augment: bool = True) -> Any:
    """A probe batch drawn as NASLib's CIFAR-10 train loader does: uniform random images, random
    crop (zero padding 4) and horizontal flip, CIFAR-10 normalisation."""
    from nasx.data import ProbeDataset, draw_batch, load_dataset

    ds = load_dataset(npz)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(ds.y), size=batch_size, replace=False))
    x = ds.x[idx].copy()
    if augment:
        padded = np.pad(x, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="constant")
        for i in range(len(x)):
            top, left = rng.integers(0, 9, size=2)
            img = padded[i, top:top + 32, left:left + 32]
            if rng.random() < 0.5:
                img = img[:, ::-1]
            x[i] = img
    sub = ProbeDataset(np.ascontiguousarray(x), ds.y[idx], ds.num_classes,
                       f"{ds.name}[naslib-like seed={seed} augment={augment}]", ds.mean, ds.std,
                       ds.classes)
    return draw_batch(sub, batch_size, seed, balanced=False)


def available(proxy: str) -> tuple[bool, str]:
    from nasx.proxies.base import get_proxy

    try:
        get_proxy(proxy)
    except Exception as exc:  # noqa: BLE001 - unknown name, or a module failing to import
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def score_cells(space: Any, archs: list[Any], proxies: list[str], batch: Any, device: str,
                seed: int, label: str) -> dict[str, list[float]]:
    from nasx.scoring import Scorer

    scorer = Scorer(space, batch, device=device, seed=seed)
    out: dict[str, list[float]] = {p: [] for p in proxies}
    t0 = time.perf_counter()
    for i, a in enumerate(archs):
        for r in scorer.score_many(a, proxies):
            out[r.proxy].append(r.value if r.ok and r.value is not None else math.nan)
        if (i + 1) % 10 == 0 or i + 1 == len(archs):
            print(f"  [{label}] {i + 1}/{len(archs)} cells, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    return out


def spearman_finite(a: list[float], b: list[float]) -> tuple[float, int]:
    x, y = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return math.nan, int(ok.sum())
    return float(stats.spearmanr(x[ok], y[ok]).statistic), int(ok.sum())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100, help="cells sampled (seeded)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the cell sample")
    ap.add_argument("--init-seed", type=int, default=None,
                    help="seed of the probe batch and the weight init (default: --seed)")
    ap.add_argument("--batch-size", type=int, default=32, help="probe batch (NASLib used 32)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--proxies", default=",".join(NAME_MAP),
                    help="NASLib columns to check (comma-separated): " + ",".join(NAME_MAP))
    ap.add_argument("--no-augment", action="store_true",
                    help="no random crop/flip (NASLib's loader augments)")
    ap.add_argument("--retest-seed", type=int, default=None,
                    help="also score with this init and batch seed: nasx-vs-nasx Spearman")
    ap.add_argument("--data", default=None, help="shared data folder (default ../shared/data)")
    ap.add_argument("--out",
                    default=str(REPO / "benchmarks" / "results" / "naslib_crosscheck.json"),
                    help="JSON output (default benchmarks/results/naslib_crosscheck.json)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = ap.parse_args(argv)

    import torch

    if args.threads < 1:
        sys.exit("--threads must be >= 1")
    torch.set_num_threads(args.threads)
    import nasx  # noqa: F401  (registers built-ins lazily)
    from nasx.api import make_space
    from nasx.evaluation import rank_metrics
    from nasx.proxies.base import get_proxy

    root = Path(args.data).resolve() if args.data else shared_root()
    zc_csv = root / "nasbench_suite_zero" / "zc_nasbench201.csv"
    acc_csv = root / "nasbench201" / "accuracies.csv"
    npz = root / "cifar10" / "probe_train.npz"
    for p in (zc_csv, acc_csv, npz):
        if not p.exists():
            sys.exit(f"missing {p}; set --data or NASX_SHARED_DATA")

    columns = [c.strip() for c in args.proxies.split(",") if c.strip()]
    unknown = [c for c in columns if c not in NAME_MAP]
    if unknown:
        sys.exit(f"unknown NASLib column(s) {unknown}; choose from {list(NAME_MAP)}")
    notes: dict[str, str] = {}
    checked = []
    for c in columns:
        ok, why = available(NAME_MAP[c])
        if ok:
            checked.append(c)
        else:
            notes[c] = f"skipped: nasx proxy {NAME_MAP[c]!r} is not available ({why})"
            print(f"note: {notes[c]}", file=sys.stderr)
    proxies = [NAME_MAP[c] for c in checked]

    rows = read_naslib_rows(zc_csv)
    truth = read_truth(acc_csv)
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.choice(len(rows), size=min(args.n, len(rows)), replace=False))
    rows = [rows[i] for i in pick]
    space = make_space("nasbench201")
    archs = [space.parse(r["arch"]) for r in rows]
    acc = [truth[int(r["nb201_index"])] for r in rows]

    init_seed = args.seed if args.init_seed is None else args.init_seed
    batch = naslib_like_batch(npz, args.batch_size, init_seed, augment=not args.no_augment)
    t0 = time.perf_counter()
    ours = score_cells(space, archs, proxies, batch, args.device, init_seed, "nasx")
    seconds = time.perf_counter() - t0
    retest = None
    if args.retest_seed is not None:
        batch2 = naslib_like_batch(npz, args.batch_size, args.retest_seed,
                                   augment=not args.no_augment)
        retest = score_cells(space, archs, proxies, batch2, args.device, args.retest_seed,
                             "retest")

    results: dict[str, Any] = {}
    for c in checked:
        p = NAME_MAP[c]
        spec = get_proxy(p)
        theirs = [float(r[c]) if r[c] not in ("", None) else math.nan for r in rows]
        theirs = [math.nan if v <= NASLIB_FAILURE else v for v in theirs]
        rho, n_ok = spearman_finite(ours[p], theirs)
        ours_gt = rank_metrics(ours[p], acc, spec.higher_is_better)
        theirs_gt = rank_metrics(theirs, acc, spec.higher_is_better)
        entry = {
            "nasx_proxy": p,
            "higher_is_better": spec.higher_is_better,
            "spearman_vs_naslib": rho,
            "cells_compared": n_ok,
            "nasx_failures": int(np.sum(~np.isfinite(ours[p]))),
            "naslib_failures": int(np.sum(~np.isfinite(theirs))),
            "kendall_nasx_vs_truth": ours_gt["kendall"],
            "kendall_naslib_vs_truth": theirs_gt["kendall"],
            "spearman_nasx_vs_truth": ours_gt["spearman"],
            "spearman_naslib_vs_truth": theirs_gt["spearman"],
            "max_abs_diff": float(np.nanmax(np.abs(np.asarray(ours[p]) - np.asarray(theirs))))
            if np.isfinite(np.asarray(ours[p]) - np.asarray(theirs)).any() else math.nan,
        }
        if retest is not None:
            entry["spearman_nasx_retest"] = spearman_finite(ours[p], retest[p])[0]
        results[c] = entry

    cmd = "OMP_NUM_THREADS=1 python benchmarks/naslib_crosscheck.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    print(f"\nNASLib cross-check: {len(rows)} NAS-Bench-201 CIFAR-10 cells (seed {args.seed}), "
          f"batch {args.batch_size}{'' if args.no_augment else ' augmented'}, "
          f"device {args.device}, {seconds:.0f} s")
    head = (f"{'naslib':10s} {'nasx':10s} {'hib':>4s} {'rho(nasx,naslib)':>17s} "
            f"{'tau nasx':>9s} {'tau naslib':>10s}")
    if retest is not None:
        head += f" {'rho retest':>10s}"
    print(head)
    for c, e in results.items():
        line = (f"{c:10s} {e['nasx_proxy']:10s} {str(e['higher_is_better'])[0]:>4s} "
                f"{e['spearman_vs_naslib']:17.3f} {e['kendall_nasx_vs_truth']:9.3f} "
                f"{e['kendall_naslib_vs_truth']:10.3f}")
        if retest is not None:
            line += f" {e['spearman_nasx_retest']:10.3f}"
        print(line)
    for c, why in notes.items():
        print(f"{c}: {why}")
    print("(tau: Kendall tau vs NAS-Bench-201 cifar10_test, oriented by higher_is_better)")
    print(f"rerun: {cmd}")

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    report = {
        "settings": {
            "n": len(rows), "seed": args.seed, "init_seed": init_seed,
            "batch_size": args.batch_size,
            "augment": not args.no_augment, "device": args.device,
            "retest_seed": args.retest_seed, "data_fingerprint": batch.fingerprint,
            "truth": "nasbench201/accuracies.csv:cifar10_test", "seconds": seconds,
            "torch": torch.__version__, "threads": args.threads,
            "machine": "shared CPU machine (2 cores, several concurrent users): seconds are "
                       "indicative only",
        },
        "command": cmd,
        "results": results,
        "notes": notes,
        "cells": [
            {"arch": r["arch"], "nb201_index": int(r["nb201_index"]), "cifar10_test": a,
             "nasx": {NAME_MAP[c]: ours[NAME_MAP[c]][i] for c in checked},
             "naslib": {c: float(r[c]) for c in checked if r[c] not in ("", None)}}
            for i, (r, a) in enumerate(zip(rows, acc))
        ],
    }
    Path(args.out).write_text(json.dumps(clean(report), indent=1))
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
