"""TE-NAS-style pruning on the DARTS space: the genotype, its size, the evaluations and the time.

Runs ``nasx search --space darts --strategy pruning`` (the CLI, in a subprocess, as a user would)
once per proxy, then builds the returned genotype at DARTS's evaluation size (``C=36``,
``layers=20``, no auxiliary head, CIFAR-10 head) and counts its parameters. Every run uses a
store (``--store``), so a run stopped by ``--time-budget`` resumes where it stopped when the
same command is given again (scores are cached; a longer budget, or a GPU, completes it).

Search network. TE-NAS's DARTS search network (``prune_tenas.py`` ``model_config`` with
``super_type="nasnet-super"``, ``prune_launch.py`` for CIFAR-10) has ``C=1``, one normal and one
reduction cell, stem multiplier 1, batch size 14 and ``prune_number=3``. nasx's DARTS network
has stem multiplier 3 and reductions at ``layers // 3`` and ``2 * layers // 3``; its nearest size
with both cell types is ``C=1, layers=3`` (normal, reduction, reduction), the default here.

On this project's 2-core CPU the committed run (32x32 inputs, one torch thread) converges with
both proxies: te-nas in about 22 minutes, gradalign-i in under 4. A run stopped by
``--time-budget`` records how far it got, the time per evaluation and an upper bound of the full
run's time; the store keeps every score, so the same command continues it.

Reference (TE-NAS, ICLR 2021): the README of VITA-Group/TENAS gives "four hours on DARTS space on
ImageNet" on one 1080Ti; the paper's CIFAR-10 DARTS-space row (Table 4) reports 2.63 +- 0.064 %
test error, 3.8 M parameters and 0.05 GPU-days of search (recorded here as quoted; the paper
itself is not part of this repository).

Example (the command prints the command that reruns it):
    OMP_NUM_THREADS=1 python benchmarks/pruning_darts.py --proxies te-nas,gradalign-i \\
        --time-budget 4200 --store /tmp/nasx-pd4.sqlite \\
        --out benchmarks/results/pruning_darts_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import shared_root  # noqa: E402  (puts this checkout first)

REPO = Path(__file__).resolve().parents[1]
DATA = shared_root() / "cifar10" / "probe_train.npz"

REFERENCE = {
    "method": "TE-NAS (Chen, Gong & Wang, ICLR 2021), DARTS space",
    "search_network": "C=1, one normal + one reduction cell, stem multiplier 1, batch 14, "
                      "prune_number 3, repeat 3 (prune_tenas.py / prune_launch.py)",
    "cifar10_test_error_percent": "2.63 +- 0.064",
    "cifar10_params_millions": 3.8,
    "cifar10_search_cost_gpu_days": 0.05,
    "imagenet_search_cost": "four hours on one 1080Ti (README of VITA-Group/TENAS)",
    "source": "CIFAR-10 figures quoted from the TE-NAS paper, Table 4 (not re-read here: the "
              "paper is not in this repository); ImageNet cost from the reference README",
}


def _params_at_eval_size(genotype: str) -> int:
    sys.path.insert(0, str(REPO))
    from nasx.spaces.darts import DartsSpace

    space = DartsSpace(C=36, layers=20)
    model = space.build(space.parse(genotype), 10)
    return int(sum(p.numel() for p in model.parameters()))


def _run(proxy: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "nasx", "search", "--space", "darts", "--strategy", "pruning",
           "--proxy", proxy, "--data", str(args.data), "--batch-size", str(args.batch_size),
           "--seed", str(args.seed), "--store", str(args.store), "--json", "--quiet",
           "--strategy-opt", f"prune_number={args.prune_number}",
           "--strategy-opt", f"ask_size={args.ask_size}"]
    for opt in args.space_opt:
        cmd += ["--space-opt", opt]
    if args.time_budget:
        cmd += ["--time-budget", str(args.time_budget)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    row: dict[str, Any] = {"proxy": proxy, "command": shlex.join(cmd[1:]),
                           "returncode": done.returncode, "wall_seconds": round(wall, 1)}
    if done.returncode != 0:
        row["error"] = done.stderr.strip().splitlines()[-1:] if done.stderr else []
        return row
    out = json.loads(done.stdout)
    row.update({
        "converged": out["best"] is not None,
        "stopped_by": out["stopped_by"],
        "genotype": out["best"],
        "score": out["score"],
        "evaluations": out["evaluated"],
        "supernet_evaluations": out["evaluated"] - (1 if out["best"] is not None else 0),
        "cached": out["cached"],
        "failed": out["failed"],
        "search_seconds": out["seconds"],
    })
    if out["best"] is not None:
        row["params_C36_layers20"] = _params_at_eval_size(out["best"])
    elif out["evaluated"]:
        row["seconds_per_evaluation_so_far"] = round(out["seconds"] / out["evaluated"], 2)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--proxies", default="te-nas,gradalign-i")
    ap.add_argument("--space-opt", action="append", default=None,
                    help="DARTS search-network option (default: C=1, layers=3)")
    ap.add_argument("--batch-size", type=int, default=14)
    ap.add_argument("--prune-number", type=int, default=3)
    ap.add_argument("--ask-size", type=int, default=2,
                    help="supernets asked at a time (the result does not depend on it; small "
                         "slices let the time budget stop inside a round, scores kept)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--time-budget", type=float, default=None,
                    help="seconds per proxy; a run it stops has no genotype but resumes "
                         "from the store when run again")
    ap.add_argument("--store", default="/tmp/nasx-pruning-darts.sqlite")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if args.space_opt is None:
        args.space_opt = ["C=1", "layers=3"]
    print("rerun: OMP_NUM_THREADS=1 " + shlex.join([sys.executable, *sys.argv]), flush=True)
    sys.path.insert(0, str(REPO))
    from nasx.spaces.darts import DartsSpace
    from nasx.strategies.pruning import PruningSearch

    opts = dict(o.split("=", 1) for o in args.space_opt)
    planned = PruningSearch(DartsSpace(**opts), prune_number=args.prune_number).planned_evaluations
    rows = []
    for proxy in args.proxies.split(","):
        row = _run(proxy.strip(), args)
        row["planned_evaluations"] = planned
        if "seconds_per_evaluation_so_far" in row:
            # the first rounds hold the largest supernets: an upper bound of the full run
            row["extrapolated_full_run_hours_upper_bound"] = round(
                row["seconds_per_evaluation_so_far"] * planned / 3600, 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {
        "benchmark": "pruning_darts",
        "command": "OMP_NUM_THREADS=1 " + shlex.join([sys.executable, *sys.argv]),
        "machine": (f"{platform.machine()} CPU, {os.cpu_count()} cores shared with other "
                    "users' jobs (a loaded machine: wall times are upper bounds)"),
        "search_network": {"space_opts": opts, "batch_size": args.batch_size,
                           "prune_number": args.prune_number, "ask_size": args.ask_size,
                           "data": str(args.data),
                           "note": "nasx's nearest to TE-NAS's DARTS search network"},
        "time_budget_seconds": args.time_budget,
        "runs": rows,
        "reference_tenas": REFERENCE,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
