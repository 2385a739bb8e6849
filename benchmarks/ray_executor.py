"""The Ray executor on one machine: speed-up of 2 Ray workers over 1, overhead of Ray with 1
worker over the sequential executor, and the outcome of a node dying mid-run.

Timing part: ``nasx eval`` (the CLI, one subprocess per run, no store) on the same ``--cells``
NAS-Bench-201 cells (``--sample N --seed 0`` of ``accuracies.csv``; real networks C=16, N=5,
32x32) with GradAlign-I on a class-balanced CIFAR-10 probe batch of ``--batch-size`` images,
run as ``--executor sequential``, ``--executor ray --workers 1`` and ``--executor ray --workers 2``
(each Ray run starts its own local instance, so its wall time includes Ray's start), in
``--repeats`` rounds of the three in turn; ratios are per round and their median.
Every run has ``OMP_NUM_THREADS=1`` (one torch thread per worker), so 1 worker = 1 core. The
scores of the three runs are compared value by value (``--csv`` rows). The start-up cost of a
local Ray instance is measured on its own, once.

Fault part (``--fault-only`` runs it alone): a Ray cluster simulated on this machine
(``ray.cluster_utils.Cluster``: a head without CPUs and two 1-CPU worker nodes), in a child
process, scores ``--fault-cells`` NAS-Bench-201 cells (drawn with ``default_rng(0)``) with
``nasx.score`` (4 one-cell tasks in flight); at the first score written to the store one worker
node is removed. Recorded: whether the run completed, the scores stored before the removal and
in all, whether any score was written twice, and whether the scores equal the sequential scores of
the same cells (computed first, in this process).

Writes the JSON after each step (partial results survive an interruption).

Example:
    python benchmarks/ray_executor.py --cells 40 --batch-size 20 --repeats 2 \\
        --out benchmarks/results/ray_executor_cpu.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import shared_root  # noqa: E402  (puts this checkout first)

REPO = Path(__file__).resolve().parents[1]
SHARED = shared_root()


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _eval(args: argparse.Namespace, executor: list[str], csv_path: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "nasx", "eval", "--space", "nasbench201", "--proxy", args.proxy,
           "--truth", str(SHARED / "nasbench201" / "accuracies.csv"), "--acc-col",
           "cifar10_test", "--sample", str(args.cells), "--seed", "0", "--data",
           str(SHARED / "cifar10" / "probe_train.npz"), "--batch-size", str(args.batch_size),
           "--device", "cpu", "--no-store", "--json", "--quiet", "--csv", str(csv_path),
           *executor]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=REPO)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"run failed ({' '.join(executor) or 'sequential'}): "
                         f"{out.stderr.strip().splitlines()[-1:]}")
    doc = json.loads(out.stdout)
    m = doc[args.proxy]
    return {
        "executor": " ".join(executor) or "--executor sequential",
        "wall_seconds": round(wall, 2),
        "eval_seconds": doc["settings"]["seconds"],
        "mean_seconds_per_cell_in_worker": round(m["seconds"], 3),
        "kendall": m["kendall"],
        "failed": m["failed"],
    }


def _scores(csv_path: Path) -> dict[str, float | None]:
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    key = next(k for k in rows[0] if k in ("score", "value"))
    return {r["arch"]: (float(r[key]) if r[key] not in ("", "None") else None) for r in rows}


def _ray_startup() -> float:
    code = ("import time; t=time.perf_counter(); from nasx.executors import RayExecutor; "
            "ex=RayExecutor(workers=1); t1=time.perf_counter(); ex.close(); print(t1-t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_env(), cwd=REPO, check=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 2)


def _fault(args: argparse.Namespace, archs: list[str], seq: dict[str, float | None] | None
           ) -> dict[str, Any]:
    import ray
    from ray.cluster_utils import Cluster

    import nasx
    from nasx.executors import RayExecutor
    from nasx.store import Store

    class KillingStore(Store):
        def __init__(self, path: Path, kill: Any) -> None:
            super().__init__(path)
            self.kill, self.puts, self.before = kill, [], 0

        def put(self, key: Any, result: Any, **kw: Any) -> None:
            super().put(key, result, **kw)
            self.puts.append(key)
            if self.kill is not None:
                self.before = len(self.puts)
                kill, self.kill = self.kill, None
                kill()

    os.environ.update(_env())
    c = Cluster(initialize_head=True, connect=True,
                head_node_args={"num_cpus": 0, "include_dashboard": False,
                                "object_store_memory": 128 * 2**20})
    nodes = [c.add_node(num_cpus=1, object_store_memory=96 * 2**20) for _ in range(2)]
    c.wait_for_nodes()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = KillingStore(Path(tmp) / "s.sqlite", lambda: c.remove_node(nodes[0]))
            ex = RayExecutor(workers=4, archs_per_task=1)
            t0 = time.perf_counter()
            try:
                res = nasx.score(archs, space="nasbench201", proxy=args.proxy,
                                 data=str(SHARED / "cifar10" / "probe_train.npz"),
                                 batch_size=args.batch_size, seed=0, device="cpu",
                                 store=store, executor=ex)
                completed, error = True, None
            except Exception as exc:  # recorded, not hidden
                res, completed, error = [], False, f"{type(exc).__name__}: {exc}"
            seconds = time.perf_counter() - t0
            stored = store.count()
            alive = sum(1 for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU"))
            store.close()
    finally:
        ray.shutdown()
        c.shutdown()
    values = {r.arch: r.value for r in res}
    return {
        "cells": len(archs),
        "cluster": "head (0 CPUs) + 2 worker nodes (1 CPU each), simulated on this machine",
        "tasks_in_flight": 4,
        "archs_per_task": 1,
        "killed": "one worker node removed at the first score written to the store",
        "completed": completed,
        "error": error,
        "scores_stored_before_kill": store.before,
        "scores_stored_total": stored,
        "store_writes": len(store.puts),
        "any_score_written_twice": len(store.puts) != len(set(store.puts)),
        "failed_scores": sum(1 for r in res if not r.ok),
        "identical_to_sequential": (bool(res) and all(values[a] == seq[a] for a in archs))
        if seq is not None else None,
        "values": values,
        "cpu_worker_nodes_alive_after": alive,
        "seconds": round(seconds, 2),
    }


def _fault_cells(args: argparse.Namespace) -> list[str]:
    import numpy as np

    with open(SHARED / "nasbench201" / "accuracies.csv", newline="", encoding="utf-8") as f:
        all_archs = [row["arch"] for row in csv.DictReader(f)]
    idx = np.sort(np.random.default_rng(0).choice(len(all_archs), size=args.fault_cells,
                                                  replace=False))
    return [all_archs[i] for i in idx]


def _fault_only(args: argparse.Namespace) -> int:
    import nasx

    out = Path(args.out)
    doc = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    archs = _fault_cells(args)
    os.environ.update(_env())
    import torch

    torch.set_num_threads(1)
    seq = {r.arch: r.value for r in nasx.score(
        archs, space="nasbench201", proxy=args.proxy,
        data=str(SHARED / "cifar10" / "probe_train.npz"), batch_size=args.batch_size, seed=0,
        device="cpu", store=False)}
    child = subprocess.run(  # a process of its own: a clean Ray driver for the cluster
        [sys.executable, __file__, "--fault-child", "--fault-cells", str(args.fault_cells),
         "--batch-size", str(args.batch_size), "--proxy", args.proxy],
        capture_output=True, text=True, env=_env(), cwd=REPO)
    if child.returncode != 0:
        raise SystemExit(f"fault run failed: {child.stderr.strip().splitlines()[-3:]}")
    fault = json.loads(child.stdout.strip().splitlines()[-1])
    values = fault.pop("values")
    fault["identical_to_sequential"] = bool(values) and all(values[a] == seq[a] for a in archs)
    doc["fault"] = fault
    doc["fault"]["cells_chosen"] = ("--fault-cells cells drawn with numpy default_rng(0) from "
                                    "accuracies.csv; reference: their sequential scores")
    doc["fault_command"] = ("python benchmarks/ray_executor.py --fault-only "
                            f"--fault-cells {args.fault_cells} --batch-size {args.batch_size} "
                            f"--proxy {args.proxy} --out {args.out}")
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(doc["fault"], indent=2))
    print("rerun:", doc["fault_command"])
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=20)
    p.add_argument("--proxy", default="gradalign-i")
    p.add_argument("--fault-cells", type=int, default=12)
    p.add_argument("--repeats", type=int, default=2, help="rounds of the three runs")
    p.add_argument("--fault-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--fault-only", action="store_true",
                   help="run only the fault part (on the first --fault-cells cells of a seed-0 "
                   "sample, against their sequential scores) and update its entry in --out")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ray_executor_cpu.json"))
    args = p.parse_args(argv)
    command = (f"python benchmarks/ray_executor.py --cells {args.cells} "
               f"--batch-size {args.batch_size} --proxy {args.proxy} "
               f"--fault-cells {args.fault_cells} --repeats {args.repeats} --out {args.out}")
    print("rerun:", command, file=sys.stderr)
    import ray

    if args.fault_child:
        print(json.dumps(_fault(args, _fault_cells(args), None)))
        return 0
    if args.fault_only:
        return _fault_only(args)

    doc: dict[str, Any] = {
        "what": "nasx eval on NAS-Bench-201 cells: Ray with 2 workers vs 1 (speed-up) and Ray "
                "with 1 worker vs the sequential executor (overhead); then a worker node killed "
                "mid-run on a simulated multi-node Ray cluster",
        "command": command,
        "machine": {
            "note": "a shared 2-core machine, loaded by other jobs at the same time (load "
                    "averages of 10-20 were seen; see each run's load_average_1min_before): the "
                    "times are indicative only and the ratios are noisy",
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "ray": ray.__version__, "platform": platform.platform(),
        },
        "settings": {"space": "nasbench201 (C=16, N=5, 32x32)", "proxy": args.proxy,
                     "cells": args.cells, "sample_seed": 0, "batch_size": args.batch_size,
                     "data": "shared/data/cifar10/probe_train.npz", "device": "cpu",
                     "torch_threads_per_worker": 1, "store": "none"},
        "runs": {},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")

    configs = (("sequential", []),
               ("ray_1_worker", ["--executor", "ray", "--workers", "1"]),
               ("ray_2_workers", ["--executor", "ray", "--workers", "2"]))
    scores: dict[str, dict[str, float | None]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # rounds of the three configurations in turn, so a change of the machine's load
        # affects every configuration alike
        for rep in range(args.repeats):
            for name, flags in configs:
                path = Path(tmp) / f"{name}_{rep}.csv"
                load = os.getloadavg()[0]
                run = _eval(args, flags, path)
                run["round"] = rep
                run["load_average_1min_before"] = round(load, 2)
                doc["runs"].setdefault(name, []).append(run)
                got = _scores(path)
                if name in scores and scores[name] != got:
                    raise SystemExit(f"{name}: scores differ between rounds")
                scores[name] = got
                print(name, run, file=sys.stderr)
                save()
    r = {name: [x["wall_seconds"] for x in runs] for name, runs in doc["runs"].items()}
    doc["scores_identical_across_runs"] = scores["ray_1_worker"] == scores["sequential"] == \
        scores["ray_2_workers"]

    def ratios(a: str, b: str) -> dict[str, Any]:
        per_round = [round(x / y, 3) for x, y in zip(r[a], r[b])]
        return {"per_round": per_round, "median": round(statistics.median(per_round), 3)}

    doc["ratios"] = {
        "speedup_ray_2_vs_1_workers_wall": ratios("ray_1_worker", "ray_2_workers"),
        "overhead_ray_1_worker_vs_sequential_wall": ratios("ray_1_worker", "sequential"),
    }
    doc["ray_local_start_seconds"] = _ray_startup()
    save()
    save()
    _fault_only(args)
    doc = json.loads(out.read_text(encoding="utf-8"))
    print(json.dumps({"ratios": doc["ratios"], "fault": doc["fault"]}, indent=2))
    print("rerun:", command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
