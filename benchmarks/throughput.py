"""Throughput of the per-sample-gradient proxies, as ratios within one run.

Sections (``--sections``, comma-separated; JSON is rewritten after every measurement, so a killed
run keeps what it measured):

``cpu``      per NAS-Bench-201 cell (seeded sample, batch ``--batch-size``, real CIFAR-10 probe
             images), seconds of: one plain batched forward+backward of the same network and
             batch (the floor); GradAlign-I; GradAlign-I+II together; the vmap route; the
             previous implementation (one vmap call per class, reductions tensor by tensor);
             an explicit per-sample loop (a batch-of-one backward per sample, same reductions).
             Medians over cells and the ratios floor / route, loop / route. Also the largest
             relative difference of the scores between routes.
``memory``   peak resident memory (fresh subprocess each) on DARTS at ``--darts-C`` /
             ``--darts-layers``: GradAlign-I vs one plain batched backward of the same batch.
``tenas``    seconds per cell of ``ntk`` (batched NTK rows) and ``linear-regions`` at the batch
             size, i.e. te-nas's cost per cell.
``engine``   per cell, through the engine as a user runs it: ``Session.score`` (what ``nasx
             score`` / ``nasx eval`` call; one session, no store, steady state: the first
             ``--warmup`` cells are left out) of gradalign-i on NAS-Bench-201 cells, wall
             seconds per cell, beside one plain batched forward+backward of the same network
             built and initialised the same way (the floor) and beside the isolated
             ``gradalign()`` call on the built network; and the same for DARTS cells
             (``--engine-darts`` cells at C=16, 8 layers, batch 64) with each member of
             nasx-ens against its own plain pass. Ratios engine / floor per cell, then medians.
``workers``  cells per second of gradalign-i and of gradalign-i+ii with K = ``--workers``
             processes sharing the device (spawned, each scoring its share of the cells after one
             warm-up cell), and the projected time for all 15,625 cells and for 10,000 DARTS cells
             (the DARTS figure from the DARTS seconds per cell measured by ``--darts-cells``).

Run (CPU; set the thread count explicitly, nothing else heavy running):
    python benchmarks/throughput.py --device cpu --threads 2 --sections cpu,memory,tenas \\
        --cells 8 --out benchmarks/results/throughput_cpu.json
GPU:
    python benchmarks/throughput.py --device cuda --sections cpu,workers,tenas --cells 20 \\
        --workers 1,2,4,8,16 --worker-cells 256 --out benchmarks/results/throughput_cuda.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import shared_root  # noqa: E402  (puts this checkout first)

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]


def _data_root(args: argparse.Namespace) -> Path:
    return Path(args.data_root)


def _batch(args: argparse.Namespace, device):
    from nasx.data import draw_batch, load_dataset

    probe = _data_root(args) / "cifar10" / "probe_train.npz"
    if not probe.exists():
        raise SystemExit(f"{probe} not found; set NASX_SHARED_DATA or --data-root")
    ds = load_dataset(str(probe))
    return draw_batch(ds, args.batch_size, args.seed).to(device)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device):
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t0, out


def _reduce_like_before(grads: dict, n: int):
    """The previous implementation's reductions: per parameter tensor, sign, class-mean sign,
    alignment and Gram (kept here as the baseline it was)."""
    import torch

    align = torch.zeros((), dtype=torch.float64)
    gram = torch.zeros((n, n), dtype=torch.float64)
    for g in grads.values():
        g = g.reshape(n, -1)
        s = torch.sign(g)
        mean_sign = torch.sign(g.sum(0))
        align += (s @ mean_sign).double().sum().cpu()
        gram += (s @ s.T).double().cpu()
    return float(align), gram


def _previous_route(model, batch, per_class):
    """GradAlign-I+II as the previous release computed them: one vmap call per class."""
    import torch

    from nasx.grads import per_sample_grads

    vals_i, vals_ii = [], []
    for idx in per_class:
        g = per_sample_grads(model, batch.x[idx], batch.y[idx])
        a, gram = _reduce_like_before(g, len(idx))
        vals_i.append(a / len(idx))
        sign, logdet = torch.linalg.slogdet(gram)
        vals_ii.append(float(logdet) if sign > 0 else -np.inf)
    return float(np.mean(vals_i))


def _loop_route(model, batch, per_class):
    """GradAlign-I by an explicit per-sample loop (a batch-of-one backward per sample)."""
    from nasx.grads import loop_per_sample_grads

    vals = []
    for idx in per_class:
        g = loop_per_sample_grads(model, batch.x[idx], batch.y[idx])
        a, _ = _reduce_like_before(g, len(idx))
        vals.append(a / len(idx))
    return float(np.mean(vals))


def _cell_row(args, arch, model, batch, per_class, device, with_loop: bool) -> dict:
    import torch.nn.functional as F

    from nasx.proxies.base import ScoreContext
    from nasx.proxies.gradalign import gradalign

    def ctx(method="auto"):
        return ScoreContext(device=device, seed=args.seed, num_classes=batch.num_classes,
                            grad_method=method)

    def floor():
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(batch.x), batch.y).backward()
        model.zero_grad(set_to_none=True)

    def both(c):
        return gradalign(model, batch, c, "i"), gradalign(model, batch, c, "ii")

    row = {"arch": str(arch)}
    row["floor"], _ = _timed(floor, device)
    row["gradalign_i"], vi = _timed(lambda: gradalign(model, batch, ctx(), "i"), device)
    c = ctx()
    row["gradalign_i_ii"], _ = _timed(lambda: both(c), device)
    row["method"] = c.cache.get("gradalign.method")
    row["vmap_route"], vv = _timed(lambda: gradalign(model, batch, ctx("vmap"), "i"), device)
    row["previous"], vp = _timed(lambda: _previous_route(model, batch, per_class), device)
    vl = None
    if with_loop:
        row["loop"], vl = _timed(lambda: _loop_route(model, batch, per_class), device)
    row["score_capture"], row["score_vmap"], row["score_previous"] = vi, vv, vp
    row["score_loop"] = vl
    ref = abs(vp) or 1.0
    row["max_rel_diff_vs_previous"] = max(abs(v - vp) / ref for v in (vi, vv))
    if vl is not None:
        row["max_rel_diff_vs_loop"] = max(abs(v - vl) / (abs(vl) or 1.0) for v in (vi, vv))
    return row


def section_cpu(args, out, save) -> None:
    import torch

    from nasx.api import make_space
    from nasx.scoring import resolve_device

    device = resolve_device(args.device)
    batch = _batch(args, device)
    space = make_space("nasbench201")
    rng = np.random.default_rng(args.seed)
    per_class = [torch.nonzero(batch.y == c, as_tuple=True)[0]
                 for c in torch.unique(batch.y).tolist()]
    rows = []
    routes = ["floor", "gradalign_i", "gradalign_i_ii", "vmap_route", "previous", "loop"]
    skip_loop_after = args.loop_cells
    n_done = 0
    while n_done < args.cells + args.warmup:
        arch = space.sample(rng)
        torch.manual_seed(args.seed)
        model = space.build(arch, batch.num_classes).to(device)

        row = _cell_row(args, arch, model, batch, per_class, device,
                        with_loop=0 <= n_done - args.warmup < skip_loop_after)
        n_done += 1
        if n_done <= args.warmup:
            continue
        rows.append(row)
        med = {r: float(np.median([x[r] for x in rows if r in x])) for r in routes}
        out["cpu" if device.type == "cpu" else "device"] = {
            "cells": len(rows),
            "median_seconds": med,
            "ratio_route_over_floor": {r: med[r] / med["floor"] for r in routes},
            # per cell where the loop ran, then the median over those cells
            "speedup_vs_loop": {r: float(np.median([x["loop"] / x[r] for x in rows
                                                    if "loop" in x]))
                                for r in routes if r != "loop"},
            "speedup_vs_previous": {r: med["previous"] / med[r] for r in routes},
            "max_rel_score_diff_vs_previous": max(x["max_rel_diff_vs_previous"] for x in rows),
            "max_rel_score_diff_vs_loop": max((x.get("max_rel_diff_vs_loop", 0.0)
                                               for x in rows), default=None),
            "rows": rows,
        }
        save()
        print(f"[cpu] cell {len(rows)}: " + " ".join(f"{r}={row[r]:.3f}s" for r in routes
                                                   if r in row), file=sys.stderr)


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_kb() -> int:
    """Reset this process's peak resident set (Linux ``clear_refs`` 5) and return the resident
    set now. ``ru_maxrss`` is not used: Linux carries it over ``exec`` from the parent, so a child
    started by a large parent would report the parent's peak."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        pass
    now = _status_kb("VmRSS")
    return now if now is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_kb() -> int:
    peak = _status_kb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _memory_child(args) -> int:
    """Peak RSS of one measurement in this fresh process (printed as JSON)."""
    import torch
    import torch.nn.functional as F

    from nasx.api import make_space
    from nasx.proxies.base import ScoreContext
    from nasx.proxies.gradalign import gradalign
    from nasx.spaces.darts import DARTS_V2

    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    batch = _batch(args, device)
    space = make_space("darts", C=args.darts_C, layers=args.darts_layers)
    arch = space.parse(DARTS_V2)
    torch.manual_seed(args.seed)
    model = space.build(arch, batch.num_classes)
    base = _reset_peak_kb()
    t0 = time.perf_counter()
    if args.memory_child == "plain":
        F.cross_entropy(model(batch.x), batch.y).backward()
    else:
        ctx = ScoreContext(device=device, seed=args.seed, num_classes=batch.num_classes,
                           grad_method=args.memory_child.split(":")[1]
                           if ":" in args.memory_child else "auto")
        gradalign(model, batch, ctx, "i")
    seconds = time.perf_counter() - t0
    peak = _peak_kb()
    print(json.dumps({"what": args.memory_child, "peak_rss_kb": peak, "before_kb": base,
                      "seconds": seconds, "arch": str(arch)}))
    return 0


def section_memory(args, out, save) -> None:
    res = {}
    for what in ("plain", "gradalign:auto"):
        cmd = [sys.executable, str(HERE), "--memory-child", what, "--threads",
               str(args.threads), "--batch-size", str(args.batch_size), "--seed",
               str(args.seed), "--data-root", str(args.data_root), "--darts-C",
               str(args.darts_C), "--darts-layers", str(args.darts_layers)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            res[what] = {"error": proc.stderr[-2000:]}
        else:
            res[what] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"[memory] {what}: {res[what]}", file=sys.stderr)
        out["memory"] = {"space": f"darts C={args.darts_C} layers={args.darts_layers}",
                         "batch_size": args.batch_size, **res}
        save()
    if all("peak_rss_kb" in r for r in res.values()):
        p = res["plain"]
        g = res["gradalign:auto"]
        out["memory"]["peak_ratio_gradalign_over_plain"] = g["peak_rss_kb"] / p["peak_rss_kb"]
        out["memory"]["increase_ratio_gradalign_over_plain"] = (
            (g["peak_rss_kb"] - g["before_kb"]) / max(1, p["peak_rss_kb"] - p["before_kb"]))
        save()


def section_tenas(args, out, save) -> None:
    import torch

    from nasx.api import make_space
    from nasx.proxies.base import get_proxy
    from nasx.scoring import Scorer, resolve_device

    device = resolve_device(args.device)
    batch = _batch(args, device)
    space = make_space("nasbench201")
    rng = np.random.default_rng(args.seed + 1)
    scorer = Scorer(space, batch, device=device, seed=args.seed)
    rows = []
    for _ in range(args.tenas_cells):
        arch = space.sample(rng)
        row = {"arch": str(arch)}
        for name in ("ntk", "linear-regions"):
            get_proxy(name)
            t, r = _timed(lambda name=name, arch=arch: scorer.score(arch, name), device)
            row[name] = t
            row[name + "_status"] = r.status
        row.update(_ntk_floor(space, arch, batch, device, args.seed))
        rows.append(row)
        print(f"[tenas] {row}", file=sys.stderr)
        med = {k: float(np.median([x[k] for x in rows]))
               for k in ("ntk", "linear-regions", "ntk_floor")}
        out["tenas"] = {"cells": len(rows), "batch_size": args.batch_size,
                        "median_seconds": med,
                        "ntk_over_floor": med["ntk"] / med["ntk_floor"],
                        "ntk_floor_note": "one train-mode forward of the batch plus N times one "
                                          "backward of the whole batch (the least any "
                                          "row-by-row NTK with BatchNorm coupling the samples "
                                          "costs: each row's backward reaches every sample)",
                        "te_nas_seconds_per_cell": med["ntk"] + med["linear-regions"],
                        "rows": rows}
        save()
    del torch


def _engine_rows(args, space, proxies, n, batch_size, device) -> list[dict]:
    """Per cell: the engine's wall seconds per proxy (Session.score, steady state), the floor
    (one plain batched forward+backward of the same network, built and initialised as the
    scorer does) and the isolated call of the proxy on the built network."""
    import torch
    import torch.nn.functional as F

    from nasx.engine.session import Session
    from nasx.proxies.base import ScoreContext, get_proxy
    from nasx.scoring import Scorer

    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(n + args.warmup)]
    probe = str(_data_root(args) / "cifar10" / "probe_train.npz")
    rows = []
    with Session(data=probe, batch_size=batch_size, seed=args.seed, device=str(device),
                 store=False) as session:
        specs = [get_proxy(p) for p in proxies]
        batch = session.batch(space, specs)
        scorer = Scorer(space, batch, device=device, seed=args.seed)
        for i, arch in enumerate(archs):
            row: dict = {"arch": str(arch)}
            for p in proxies:
                t0 = time.perf_counter()
                r = session.score(arch, space, p)
                _sync(device)
                row[f"engine:{p}"] = time.perf_counter() - t0
                row[f"value:{p}"] = r.value
            model = scorer.build(arch)
            model.train()
            xb, yb = batch.x.to(device), batch.y.to(device)

            def floor(model=model, xb=xb, yb=yb):
                model.zero_grad(set_to_none=True)
                F.cross_entropy(model(xb), yb).backward()
                model.zero_grad(set_to_none=True)

            row["floor"], _ = _timed(floor, device)
            for p in proxies:
                spec = get_proxy(p)
                model = scorer.build(arch)
                model.train()
                ctx = ScoreContext(device=device, seed=args.seed,
                                   num_classes=batch.num_classes)
                ctx.generator = torch.Generator(device=device).manual_seed(args.seed)
                row[f"isolated:{p}"], _ = _timed(
                    lambda spec=spec, model=model, ctx=ctx: spec(model, batch.to(device), ctx),
                    device)
            if i >= args.warmup:
                rows.append(row)
                print(f"[engine] {space.name} cell {len(rows)}: floor={row['floor']:.3f}s "
                      + " ".join(f"{p}={row['engine:' + p]:.3f}s" for p in proxies),
                      file=sys.stderr)
    return rows


def _engine_summary(rows: list[dict], proxies: list[str]) -> dict:
    med = lambda k: float(np.median([r[k] for r in rows]))  # noqa: E731
    return {
        "cells": len(rows),
        "median_seconds": {"floor": med("floor"),
                           **{f"engine:{p}": med(f"engine:{p}") for p in proxies},
                           **{f"isolated:{p}": med(f"isolated:{p}") for p in proxies}},
        "median_ratio_over_floor": {
            **{f"engine:{p}": float(np.median([r[f"engine:{p}"] / r["floor"] for r in rows]))
               for p in proxies},
            **{f"isolated:{p}": float(np.median([r[f"isolated:{p}"] / r["floor"]
                                                 for r in rows])) for p in proxies}},
        "max_ratio_over_floor": {f"engine:{p}": max(r[f"engine:{p}"] / r["floor"]
                                                    for r in rows) for p in proxies},
        "rows": rows,
    }


def section_engine(args, out, save) -> None:
    from nasx.api import make_space
    from nasx.proxies.base import get_proxy
    from nasx.scoring import resolve_device

    device = resolve_device(args.device)
    space = make_space("nasbench201")
    rows = _engine_rows(args, space, ["gradalign-i"], args.cells, args.batch_size, device)
    out["engine_nb201"] = {"batch_size": args.batch_size,
                           **_engine_summary(rows, ["gradalign-i"])}
    save()
    if args.engine_darts:
        members = list(get_proxy("nasx-ens").components)
        darts = make_space("darts", C=16, layers=8)
        rows = _engine_rows(args, darts, members, args.engine_darts, 64, device)
        out["engine_darts"] = {"batch_size": 64, "C": 16, "layers": 8, "proxies": members,
                               **_engine_summary(rows, members)}
        save()


def _ntk_floor(space, arch, batch, device, seed: int) -> dict:
    """Seconds of one forward of the batch (train mode) and of one backward of its summed
    logits to the weights (best of 3), and the NTK floor ``forward + N * backward``."""
    import torch

    torch.manual_seed(seed)
    model = space.build(arch, batch.num_classes).to(device).train()
    params = [p for name, p in model.named_parameters() if "weight" in name]
    fwd, out = _timed(lambda: model(batch.x), device)
    total = out.reshape(out.shape[0], -1).sum()
    bwd = min(_timed(lambda: torch.autograd.grad(total, params, retain_graph=True), device)[0]
              for _ in range(3))
    n = int(batch.x.shape[0])
    return {"forward": fwd, "backward": bwd, "ntk_floor": fwd + n * bwd}


def _worker(rank, k, args_dict, cells, proxies, barrier, queue) -> None:
    import torch

    from nasx.api import make_space
    from nasx.scoring import Scorer

    ns = argparse.Namespace(**args_dict)
    torch.set_num_threads(max(1, ns.threads // k))
    device = torch.device(ns.device)
    batch = _batch(ns, device)
    space = make_space("nasbench201")
    scorer = Scorer(space, batch, device=device, seed=ns.seed)
    mine = [space.parse(c) for i, c in enumerate(cells) if i % k == rank]
    scorer.score_many(mine[0], proxies)  # warm-up (kernels, allocator)
    barrier.wait()
    t0 = time.perf_counter()
    ok = 0
    for arch in mine:
        ok += sum(r.ok for r in scorer.score_many(arch, proxies))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    queue.put((rank, time.perf_counter() - t0, len(mine), ok))


def section_workers(args, out, save) -> None:
    import multiprocessing as mp

    from nasx.api import make_space

    space = make_space("nasbench201")
    rng = np.random.default_rng(args.seed + 2)
    cells = [str(space.sample(rng)) for _ in range(args.worker_cells)]
    ctx = mp.get_context("spawn")
    res = out.setdefault("workers", {"cells": len(cells), "batch_size": args.batch_size,
                                     "device": args.device, "runs": []})
    for proxies in (["gradalign-i"], ["gradalign-i", "gradalign-ii"]):
        for k in [int(v) for v in args.workers.split(",")]:
            barrier = ctx.Barrier(k + 1)
            queue = ctx.Queue()
            procs = [ctx.Process(target=_worker, args=(r, k, vars(args), cells, proxies,
                                                       barrier, queue)) for r in range(k)]
            for p in procs:
                p.start()
            barrier.wait()
            t0 = time.perf_counter()
            got = [queue.get() for _ in procs]
            wall = time.perf_counter() - t0
            for p in procs:
                p.join()
            n = sum(g[2] for g in got)
            run = {"proxies": "+".join(proxies), "workers": k, "wall_seconds": wall,
                   "cells_per_second": n / wall, "ok_scores": sum(g[3] for g in got),
                   "projected_minutes_all_nb201": 15625 / (n / wall) / 60}
            res["runs"].append(run)
            print(f"[workers] {run}", file=sys.stderr)
            save()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sections", default="cpu,memory,tenas")
    ap.add_argument("--cells", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--loop-cells", type=int, default=3,
                    help="cells on which the (slow) explicit loop is also timed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--darts-C", type=int, default=36)
    ap.add_argument("--darts-layers", type=int, default=20)
    ap.add_argument("--tenas-cells", type=int, default=3)
    ap.add_argument("--engine-darts", type=int, default=4,
                    help="engine section: DARTS cells scored by nasx-ens's members [4]")
    ap.add_argument("--workers", default="1,2,4,8,16")
    ap.add_argument("--worker-cells", type=int, default=256)
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data-root", default=str(shared_root()))
    ap.add_argument("--note", default=None, help="free text stored in the JSON")
    ap.add_argument("--out", default=None)
    ap.add_argument("--update", action="store_true",
                    help="keep the other sections of an existing --out file (rerun some sections)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.memory_child:
        return _memory_child(args)
    import nasx

    command = "python benchmarks/throughput.py " + " ".join(sys.argv[1:])
    out: dict = {}
    if args.update and args.out and Path(args.out).exists():
        out = json.loads(Path(args.out).read_text())
        out.setdefault("earlier_commands", []).append(out.get("command"))
    out.update({"benchmark": "throughput", "command": command, "device": args.device,
           "device_name": (torch.cuda.get_device_name(0) if args.device.startswith("cuda")
                           else platform.processor() or platform.machine()),
           "cpu_count": os.cpu_count(), "torch_threads": args.threads,
           "batch_size": args.batch_size, "seed": args.seed, "torch": torch.__version__,
           "nasx": nasx.__version__, "note": args.note})

    def save() -> None:
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(args.out + ".tmp")
            tmp.write_text(json.dumps(out, indent=1, default=float))
            tmp.replace(args.out)

    sections = {"cpu": section_cpu, "memory": section_memory, "tenas": section_tenas,
                "workers": section_workers, "engine": section_engine}
    for name in args.sections.split(","):
        t0 = time.perf_counter()
        sections[name](args, out, save)
        out.setdefault("section_seconds", {})[name] = time.perf_counter() - t0
        save()
    print(json.dumps({k: v for k, v in out.items() if k not in ("cpu", "device")}, indent=1,
                     default=float)[:4000])
    print(f"rerun: {command}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
