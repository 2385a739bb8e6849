"""Stability of the latency proxy on this CPU, and how latency ranks against FLOPs.

1. **Repeatability**: three NAS-Bench-201 networks (C=16, N=5, 32x32; small, middle and the
   largest cell) are measured ``--repeats`` times each with the latency proxy's function and
   default protocol (batch 1, 5 warm-up passes, median of 20 timed passes). Reported per
   network: the median of the measurements, IQR/median (relative spread), min and max.
2. **Latency against FLOPs**: ``--sample`` architectures drawn uniformly from NAS-Bench-201
   (and from DARTS at a small size, C=8, 8 cells, 32x32, unless ``--no-darts``) get their
   FLOPs (the ``flops`` proxy's count) and their measured latency; reported: Kendall's tau
   and Spearman's rho of the two (and of params against latency).

Torch runs with ``--threads`` intra-op threads (default 1); the load average of the machine
before and after is recorded, since other processes may share the cores.

Run (from the repository root):
    OMP_NUM_THREADS=1 python benchmarks/latency.py --out benchmarks/results/latency_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nasx.constraints import count_flops, count_params  # noqa: E402
from nasx.proxies.latency import measure_latency  # noqa: E402
from nasx.registry import make_space  # noqa: E402
from nasx.scoring import device_model  # noqa: E402

CELLS = {
    "small": "|skip_connect~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|skip_connect~2|",
    "middle": "|nor_conv_1x1~0|+|nor_conv_3x3~0|skip_connect~1|+"
              "|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|",
    "largest": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
               "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
}


def _build(space, arch):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return space.build(arch, 10).eval()


def repeatability(repeats: int) -> list[dict]:
    space = make_space("nasbench201")
    rows = []
    for name, cell in CELLS.items():
        net = _build(space, space.parse(cell))
        ms = np.array([measure_latency(net, space.input_shape) for _ in range(repeats)])
        q1, med, q3 = np.percentile(ms, [25, 50, 75])
        rows.append({"network": name, "arch": cell, "measurements": repeats,
                     "median_ms": round(float(med), 3),
                     "iqr_over_median": round(float((q3 - q1) / med), 4),
                     "min_ms": round(float(ms.min()), 3), "max_ms": round(float(ms.max()), 3),
                     "max_over_min": round(float(ms.max() / ms.min()), 3),
                     "flops_m": round(count_flops(net, space.input_shape) / 1e6, 3),
                     "all_ms": [round(float(v), 3) for v in ms]})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "all_ms"}), flush=True)
    return rows


def versus_flops(space_name: str, opts: dict, sample: int, seed: int) -> dict:
    space = make_space(space_name, **opts)
    rng = np.random.default_rng(seed)
    flops, params, lat = [], [], []
    seen = set()
    while len(lat) < sample:
        a = space.sample(rng)
        if a.key in seen:
            continue
        seen.add(a.key)
        net = _build(space, a)
        flops.append(count_flops(net, space.input_shape))
        params.append(count_params(net))
        lat.append(measure_latency(net, space.input_shape))
    tau_f = stats.kendalltau(flops, lat)
    tau_p = stats.kendalltau(params, lat)
    out = {"space": space_name, "space_opts": dict(space.opts), "sample": sample,
           "seed": seed,
           "kendall_tau_flops_latency": round(float(tau_f.statistic), 4),
           "kendall_p_flops_latency": float(tau_f.pvalue),
           "spearman_flops_latency": round(float(stats.spearmanr(flops, lat).statistic), 4),
           "kendall_tau_params_latency": round(float(tau_p.statistic), 4),
           "latency_ms_range": [round(float(min(lat)), 3), round(float(max(lat)), 3)],
           "mflops_range": [round(min(flops) / 1e6, 3), round(max(flops) / 1e6, 3)]}
    print(json.dumps(out), flush=True)
    out["points"] = [{"mflops": round(f / 1e6, 4), "params": int(p), "latency_ms": round(t, 4)}
                     for f, p, t in zip(flops, params, lat)]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20, help="measurements per network [20]")
    ap.add_argument("--sample", type=int, default=100, help="architectures per space [100]")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads [1]")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed [0]")
    ap.add_argument("--no-darts", action="store_true", help="skip the DARTS sample")
    ap.add_argument("--out", default="benchmarks/results/latency_cpu.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    result = {
        "command": f"OMP_NUM_THREADS={args.threads} python benchmarks/latency.py --out {args.out}"
        + (" --no-darts" if args.no_darts else ""),
        "what": "latency proxy (median ms of 20 timed eval forward passes at batch 1 after 5 "
        "warm-up passes): spread of repeated measurements of one network, and rank "
        "correlation of latency with FLOPs and params over sampled architectures",
        "device_model": device_model("cpu"),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
    }
    result["repeatability_nb201"] = repeatability(args.repeats)
    result["versus_flops"] = [versus_flops("nasbench201", {}, args.sample, args.seed)]
    if not args.no_darts:
        result["versus_flops"].append(
            versus_flops("darts", {"C": 8, "layers": 8}, args.sample, args.seed))
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["load_average_before"] = [round(v, 2) for v in load_before]
    result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    busy = max(result["load_average_before"][0], result["load_average_after"][0]) \
        > 1.0 + args.threads
    result["note"] = (
        "other processes were running on the cores during the run (1-minute load above the "
        "threads measured + 1): the spread is an upper bound of what a quiet machine gives"
        if busy else "1-minute load at most the threads measured + 1 before and after the "
        "run: nothing else heavy was running")
    path = REPO / args.out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
