"""Fidelity of ``nasx train`` against NAS-Bench-201's own 12-epoch training.

Trains NAS-Bench-201 cells (the benchmark's network, C=16, N=5, 10 classes) with the ``nb201``
protocol and ``epochs=12`` (the benchmark's short schedule ``H^12``) and compares the held-out
(CIFAR-10 test set) accuracy of each cell with the ``cifar10_test`` column of
``shared/data/nasbench201/accuracies_12epoch.csv`` (NAS-Bench-201 dataset ``cifar10``: trained on
the 50k training images, tested on the 10k test images, 12 epochs, mean over the benchmark's
seeds): per-cell differences, their mean and spread, and the Kendall tau over the cells.

A fidelity figure needs the full CIFAR-10 (``--data cifar10``: the python folder in the nasx
cache, or ``--data /path/to/cifar-10-batches-py``) and ``--epochs 12``; any other run is a smoke
run, and the JSON says so (``fidelity_run: false``; its accuracies are not comparable with the
table, and the comparison figures are left out). Every run measures the wall time per training
step and per epoch on the machine it runs on (with the CPU time of the process and the load
average, since a shared machine inflates wall times), and estimates from them the time of one
full 12-epoch run on CIFAR-10 (196 steps of 256 images per epoch).

Cells: ``--n`` rows drawn without replacement from the table's 15,625 with
``numpy.random.default_rng(--seed)``; each is trained with training seed ``--train-seed``.

Example (smoke run on the 5,000-image CIFAR-10 probe set, one epoch, two cells):
    python benchmarks/train_nb201_fidelity.py --n 2 --epochs 1 \\
        --data $NASX_SHARED_DATA/cifar10/probe_train.npz \\
        --test-data $NASX_SHARED_DATA/cifar10/probe_test.npz \\
        --out benchmarks/results/train_nb201_fidelity_smoke_cpu.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

FULL_TRAIN_IMAGES = 50_000


def _table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(os.environ.get("NASX_SHARED_DATA", Path(__file__).resolve().parents[1]
                                 / ".." / "shared" / "data"))
    ap.add_argument("--truth", default=str(shared / "nasbench201" / "accuracies_12epoch.csv"))
    ap.add_argument("--data", default="cifar10", help="training data [cifar10 from the cache]")
    ap.add_argument("--test-data", default=None, help="held-out data [the CIFAR test split]")
    ap.add_argument("--n", type=int, default=20, help="cells to train [20]")
    ap.add_argument("--seed", type=int, default=0, help="seed of the cell sample [0]")
    ap.add_argument("--train-seed", type=int, default=0, help="training seed [0]")
    ap.add_argument("--epochs", type=int, default=12, help="epochs [12: NAS-Bench-201 H^12]")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--store", default=None, help="store of the results [none]")
    ap.add_argument("--out", required=True, help="JSON file to write")
    args = ap.parse_args(argv)

    from nasx.events import TrainProgress
    from nasx.training import train

    rows = _table(Path(args.truth))
    pick = np.random.default_rng(args.seed).choice(len(rows), size=args.n, replace=False)
    cells: list[dict[str, Any]] = []
    step_seconds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, i in enumerate(pick):
            row = rows[int(i)]
            marks: list[tuple[float, int, int, bool]] = []

            def on_event(ev: Any, marks: list = marks) -> None:
                if isinstance(ev, TrainProgress):
                    marks.append((time.perf_counter(), ev.epoch, ev.step, ev.epoch_done))

            t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()[0]
            r = train("nasbench201", row["arch"], protocol="nb201", data=args.data,
                      test_data=args.test_data, seed=args.train_seed, device=args.device,
                      threads=args.threads, store=args.store or False,
                      checkpoint_dir=Path(tmp) / str(k), on_event=on_event,
                      epochs=args.epochs)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            # per-step times from consecutive progress events within an epoch (every step is
            # reported when an epoch has fewer than 40 steps, else every steps // 20)
            for (ta, ea, sa, _), (tb, eb, sb, db) in zip(marks, marks[1:]):
                if ea == eb and sb > sa and not db:
                    step_seconds.append((tb - ta) / (sb - sa))
            cells.append({
                "index": int(row["index"]), "arch": row["arch"],
                "nb201_12epoch_cifar10_test": float(row["cifar10_test"]),
                "accuracy": r.accuracy, "params": r.params, "seconds": round(wall, 2),
                "cpu_seconds": round(cpu, 2),
                "load_average_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
                "epoch_seconds": [round(h["seconds"], 2) for h in r.history],
                "history": [{k2: v for k2, v in h.items()} for h in r.history],
            })
            print(f"[{k + 1}/{args.n}] {row['arch']}: {r.accuracy:.2f}% "
                  f"(NAS-Bench-201 12 epochs: {float(row['cifar10_test']):.2f}%), {wall:.0f}s",
                  file=sys.stderr)
    data_desc = r.data
    fidelity_run = (args.epochs == 12 and data_desc["train_images"] == FULL_TRAIN_IMAGES
                    and data_desc["held_out_images"] == 10_000 and args.test_data is None)
    acc = np.array([c["accuracy"] for c in cells])
    ref = np.array([c["nb201_12epoch_cifar10_test"] for c in cells])
    diff = acc - ref
    tau = stats.kendalltau(acc, ref).statistic if len(cells) > 1 and fidelity_run else None
    sec_step = float(np.median(step_seconds)) if step_seconds else None
    steps_full = -(-FULL_TRAIN_IMAGES // 256)
    out = {
        "command": "python benchmarks/train_nb201_fidelity.py "
                   + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "fidelity_run": fidelity_run,
        "note": ("full CIFAR-10 and 12 epochs: the figures below compare with NAS-Bench-201"
                 if fidelity_run else
                 "smoke run (not the full CIFAR-10 and/or not 12 epochs): accuracies are NOT "
                 "comparable with NAS-Bench-201's; only the timings are meaningful"),
        "protocol": r.protocol, "data": data_desc, "device": r.device,
        "torch_threads": args.threads, "machine": platform.machine(),
        "processor": platform.processor(), "cpu_count": os.cpu_count(),
        "n_cells": len(cells), "cell_seed": args.seed, "train_seed": args.train_seed,
        "median_seconds_per_step": sec_step,
        "median_seconds_per_epoch": float(np.median([s for c in cells
                                                     for s in c["epoch_seconds"]])),
        "estimated_hours_per_cell_full_12_epochs": (
            None if sec_step is None else round(sec_step * steps_full * 12 / 3600, 2)),
        "cpu_seconds_per_cell": [c["cpu_seconds"] for c in cells],
        "accuracy_minus_nb201": None if not fidelity_run else {
            "mean": float(diff.mean()), "std": float(diff.std()),
            "max_abs": float(np.abs(diff).max())},
        "kendall_tau_vs_nb201": None if tau is None else float(tau),
        "cells": cells,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in out.items() if k not in ("cells", "protocol")},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
