"""Speed and memory of the proxies on NAS-Bench-201 networks, as ratios within one run.

Three measurements, on the same seeded cells and probe batch:

1. seconds per architecture of every proxy scored alone (model build included, as a search
   pays it), median over ``--cells`` cells after ``--warmup`` untimed cells, and each proxy's
   time as a ratio to ``params`` (the cheapest possible proxy: build + count) in the same run;
2. per-sample gradients (what GradAlign costs): ``torch.func`` vmap vs an explicit batch-of-one
   loop on the same class groups, as the ratio loop / vmap (> 1: vmap is faster);
3. on CUDA, peak GPU memory of GradAlign with per-class vmap (default) vs ``--chunk-size 4``,
   as a ratio.

Run:
    python benchmarks/speed.py --device cpu --threads 2 --cells 10 --out bench_out/speed_cpu.json
    python benchmarks/speed.py --device cuda --cells 20 --out bench_out/speed_cuda.json
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

DEFAULT_PROXIES = ("gradalign-i,gradalign-ii,gradsign,naswot,ntk,linear-regions,zen,grad-norm,"
                   "snip,grasp,synflow,fisher,jacob-cov,params,flops")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cells", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--proxies", default=DEFAULT_PROXIES)
    ap.add_argument("--data-root", default=str(shared_root()))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import nasx
    from nasx.api import make_batch, make_space
    from nasx.grads import loop_per_sample_grads, per_sample_grads
    from nasx.scoring import Scorer, resolve_device

    dev = resolve_device(args.device)
    probe = Path(args.data_root) / "cifar10" / "probe_train.npz"
    if not probe.exists():
        print(f"{probe} not found; set NASX_SHARED_DATA", file=sys.stderr)
        return 2
    space = make_space("nasbench201")
    batch = make_batch(str(probe), space, batch_size=args.batch_size, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    cells = [space.sample(rng) for _ in range(args.cells + args.warmup)]
    registered = set(nasx.list_proxies())
    proxies = [p for p in args.proxies.split(",") if p in registered]

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    # 1. seconds per architecture, each proxy alone
    scorer = Scorer(space, batch, device=dev, seed=args.seed)
    per: dict[str, list[float]] = {p: [] for p in proxies}
    for k, a in enumerate(cells):
        for p in proxies:
            sync()
            t0 = time.perf_counter()
            scorer.score(a, p)
            sync()
            if k >= args.warmup:
                per[p].append(time.perf_counter() - t0)
    med = {p: float(np.median(v)) for p, v in per.items()}
    base = med.get("params")
    seconds = {p: {"median_s": med[p], "ratio_to_params": (med[p] / base) if base else None}
               for p in proxies}

    # 2. per-sample gradients: vmap vs loop on the class groups GradAlign uses
    ratios = []
    vm_t, lp_t = [], []
    for a in cells[args.warmup:args.warmup + min(5, args.cells)]:
        model = scorer.build(a)
        x, y = scorer.batch.x, scorer.batch.y
        groups = [torch.nonzero(y == c, as_tuple=True)[0] for c in torch.unique(y)]
        per_sample_grads(model, x[groups[0]], y[groups[0]])  # warm this network's kernels
        sync()
        t0 = time.perf_counter()
        for g in groups:
            per_sample_grads(model, x[g], y[g])
        sync()
        t_vmap = time.perf_counter() - t0
        t0 = time.perf_counter()
        for g in groups:
            loop_per_sample_grads(model, x[g], y[g])
        sync()
        t_loop = time.perf_counter() - t0
        vm_t.append(t_vmap)
        lp_t.append(t_loop)
        ratios.append(t_loop / t_vmap)

    # 3. peak GPU memory of GradAlign: per-class vmap vs chunks of 4
    memory = None
    if dev.type == "cuda":
        peaks = {}
        for chunk in (None, 4):
            sc = Scorer(space, batch, device=dev, seed=args.seed, chunk_size=chunk)
            a = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
                            "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|")
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(dev)
            sc.score(a, "gradalign-i")
            peaks[str(chunk)] = torch.cuda.max_memory_allocated(dev)
        memory = {"peak_bytes_class_vmap": peaks["None"], "peak_bytes_chunk4": peaks["4"],
                  "ratio_class_vmap_to_chunk4": peaks["None"] / peaks["4"]}

    out = {
        "benchmark": "speed",
        "command": "python " + " ".join(sys.argv),
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "cells": args.cells, "batch_size": len(batch), "seed": args.seed,
        "seconds_per_arch": seconds,
        "per_sample_grads": {"loop_over_vmap_ratio_median": float(np.median(ratios)),
                             "vmap_seconds_median": float(np.median(vm_t)),
                             "loop_seconds_median": float(np.median(lp_t)),
                             "cells": len(ratios)},
        "gradalign_memory": memory,
        "torch": torch.__version__, "nasx": nasx.__version__,
    }
    print(f"device {out['device']} ({out['device_name']}), {args.cells} cells, batch "
          f"{len(batch)}, {out['torch_threads']} threads")
    print(f"{'proxy':<16}{'median s/arch':>14}{'x params':>10}")
    for p, v in seconds.items():
        r = v["ratio_to_params"]
        print(f"{p:<16}{v['median_s']:>14.4f}{(f'{r:.1f}' if r else '—'):>10}")
    psg = out["per_sample_grads"]
    print(f"per-sample grads: loop/vmap = {psg['loop_over_vmap_ratio_median']:.2f} "
          f"(vmap {psg['vmap_seconds_median']:.3f}s, loop {psg['loop_seconds_median']:.3f}s "
          "per cell)")
    if memory:
        print(f"GradAlign peak memory: per-class vmap {memory['peak_bytes_class_vmap'] / 2**20:.0f}"
              f" MiB, chunks of 4 {memory['peak_bytes_chunk4'] / 2**20:.0f} MiB "
              f"(ratio {memory['ratio_class_vmap_to_chunk4']:.2f})")
    print("rerun:", out["command"])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
