"""Export the largest network of every built-in space with ``nasx.export`` and check the file.

Per space: the network (DARTS-V2 at DARTS's evaluation size, C=36 and 20 cells; NAS-Bench-201's
all-3x3-convolution cell at C=16, N=5; for the others the sampled architecture with the most
parameters out of ``--candidates``, at the largest width and depth of the NDS families and at
the default sizes of NAS-Bench-101, NAS-Bench-Macro and mbv2-macro) is exported to ``.pt2``
(dynamic batch), loaded back with ``torch.export.load(...).module()`` and run at batch sizes 1
and 4 beside the built network in eval mode. Records the export and load times, the file size,
the parameter count and the largest absolute difference of the logits (float32).

Run (from the repository root; one torch thread; ``--spaces A,B --merge`` adds or redoes some
spaces and keeps the others' rows):
    OMP_NUM_THREADS=1 python benchmarks/export_all.py --out benchmarks/results/export_all_cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nasx  # noqa: E402
from nasx.registry import make_space  # noqa: E402
from nasx.spaces.darts import DARTS_V2  # noqa: E402

NB201_LARGEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+" \
    "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NDS = {"widths": "32", "depths": "20"}
#: space -> (options, fixed architecture or None to pick the largest sampled)
CASES: dict[str, tuple[dict, str | None]] = {
    "nasbench201": ({}, NB201_LARGEST),
    "darts": ({"C": 36, "layers": 20}, DARTS_V2),
    "nds-darts": (NDS, None),
    "nds-darts-fix-w-d": ({}, None),
    "nds-enas": (NDS, None),
    "nds-pnas": (NDS, None),
    "nds-nasnet": (NDS, None),
    "nds-amoeba": (NDS, None),
    "nasbench101": ({}, None),
    "nasbench-macro": ({}, None),
    "mbv2-macro": ({}, None),
}


def _largest(space, candidates: int) -> tuple[str, int]:
    rng = np.random.default_rng(0)
    best, n_best = None, -1
    for _ in range(candidates):
        a = space.sample(rng)
        n = sum(p.numel() for p in space.build(a, 10).parameters())
        if n > n_best:
            best, n_best = a, n
    return str(best), n_best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=10,
                    help="sampled architectures per space the largest is picked from [10]")
    ap.add_argument("--spaces", default=",".join(CASES), help="comma-separated spaces [all]")
    ap.add_argument("--out", default="benchmarks/results/export_all_cpu.json")
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows of the other spaces already in --out")
    args = ap.parse_args(argv)
    rows = []
    out_path = REPO / args.out
    if args.merge and out_path.exists():
        names = set(args.spaces.split(","))
        rows = [r for r in json.loads(out_path.read_text())["spaces"] if r["space"] not in names]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.spaces.split(","):
            opts, arch = CASES[name]
            space = make_space(name, **opts)
            if arch is None:
                arch, _ = _largest(space, args.candidates)
            path = Path(tmp) / f"{name}.pt2"
            t0 = time.perf_counter()
            info = nasx.export(name, arch, path, seed=0, space_opts=opts)
            t_export = time.perf_counter() - t0
            t0 = time.perf_counter()
            loaded = torch.export.load(path).module()
            t_load = time.perf_counter() - t0
            net = nasx.build(name, arch, seed=0, **opts).eval()
            diffs = {}
            for b in (1, 4):
                x = torch.randn(b, *space.input_shape, generator=torch.Generator().manual_seed(b))
                with torch.no_grad():
                    ref, got = net(x), loaded(x)
                diffs[str(b)] = {"max_abs_diff": float((ref - got).abs().max()),
                                 "max_abs_logit": float(ref.abs().max()),
                                 "allclose_1e-5": bool(torch.allclose(got, ref, rtol=1e-5,
                                                                      atol=1e-5))}
            rows.append({
                "space": name, "space_opts": dict(space.opts), "arch": arch,
                "params": int(sum(p.numel() for p in net.parameters())),
                "input_shape": list(space.input_shape), "dynamic_batch": info.dynamic_batch,
                "export_s": round(t_export, 2), "load_s": round(t_load, 2),
                "file_mib": round(path.stat().st_size / 2**20, 2), "outputs": diffs,
            })
            print(json.dumps(rows[-1]), flush=True)
            _write(out_path, args, rows)
    return 0


def _write(path: Path, args: argparse.Namespace, rows: list[dict]) -> None:
    old = json.loads(path.read_text()).get("commands", []) if args.merge and path.exists() \
        else []
    command = ("OMP_NUM_THREADS=1 python benchmarks/export_all.py --out " + args.out
               + (f" --candidates {args.candidates}" if args.candidates != 10 else "")
               + (f" --spaces {args.spaces} --merge" if args.merge else ""))
    result = {
        "commands": old + [command] if command not in old else old,
        "what": "torch.export (.pt2, dynamic batch, eval mode) of the largest network of each "
        "space, reloaded with torch.export.load(...).module() and compared with the built "
        "network in eval mode at batch sizes 1 and 4 (float32)",
        "torch": torch.__version__, "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
        "note": "timings on a shared 2-core machine with other processes running: indicative "
        "only",
        "fallback_used": False,
        "spaces": rows,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
