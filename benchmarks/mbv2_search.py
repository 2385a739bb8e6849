"""A zero-cost search of the MobileNetV2-style macro space under a FLOPs budget, on this CPU.

Runs ``nasx.search`` on ``mbv2-macro`` (224x224 inputs, 1000 classes unless ``--classes``) with
a data-free proxy (``zen`` by default: no images are loaded) under ``--max-flops``, random or
evolution, and records the wall time, the returned network's FLOPs, parameters and measured
latency (the ``latency`` proxy at batch 1 on this CPU), and the FLOPs of every evaluated
architecture. MobileNetV2 itself (expansion 6, kernel 3, its own depths and widths) is scored
the same way for reference; it lies in the space.

Run (from the repository root, nothing else heavy running):
    python benchmarks/mbv2_search.py --budget 100 --threads 2 \\
        --out benchmarks/results/mbv2_search_cpu.json
"""

from __future__ import annotations

import argparse
import sys
import time

from common import write_results  # noqa: E402  (puts this checkout first)


def mobilenet_v2() -> str:
    """MobileNetV2 (1.0x) in the space's notation: its widths and depths, expansion 6 and
    kernel 3 in every searched block."""
    import json

    d: dict = {}
    for i, (w, n) in enumerate(zip([24, 32, 64, 96, 160, 320], [2, 3, 4, 3, 3, 1]), start=1):
        d[f"s{i}_width"], d[f"s{i}_depth"] = w, n
        for j in range(n):
            d[f"s{i}_b{j}_expand"], d[f"s{i}_b{j}_kernel"] = 6, 3
    return json.dumps(d)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxy", default="zen")
    ap.add_argument("--strategy", default="evolution")
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--max-flops", default="450M")
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/mbv2_search_cpu.json")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    import nasx
    from nasx.constraints import count_flops, count_params, parse_quantity
    from nasx.registry import make_space

    data = f"shape:{args.classes}"
    t0 = time.perf_counter()
    result = nasx.search("mbv2-macro", args.proxy, args.strategy, budget=args.budget,
                         max_flops=args.max_flops, data=data, seed=args.seed, device="cpu",
                         store=False)
    wall = time.perf_counter() - t0
    space = make_space("mbv2-macro")

    def describe(arch_text: str) -> dict:
        arch = space.parse(arch_text)
        model = space.build(arch, args.classes)
        lat = nasx.score(arch_text, space="mbv2-macro", proxy="latency", data=data,
                         device="cpu", store=False)
        return {"arch": arch_text, "flops": count_flops(model, tuple(space.input_shape)),
                "params": count_params(model), "latency_ms": lat.value}

    best = describe(result.best.text) if result.best is not None else None
    ref_text = str(space.parse(mobilenet_v2()))
    ref = describe(ref_text)
    ref["score"] = nasx.score(ref_text, space="mbv2-macro", proxy=args.proxy, data=data,
                              device="cpu", store=False, seed=args.seed).value
    doc = {
        "what": __doc__.splitlines()[0],
        "proxy": args.proxy, "strategy": args.strategy, "budget": args.budget,
        "max_flops": parse_quantity(args.max_flops), "classes": args.classes,
        "seed": args.seed, "threads": args.threads,
        "search_seconds": round(wall, 1),
        "evaluated": result.evaluated, "infeasible": result.infeasible,
        "best": best, "best_score": result.score,
        "mobilenet_v2": ref,
        "top": [{"arch": a, "score": s} for a, s in result.top],
    }
    write_results(args.out, doc)
    print(f"{result.evaluated} evaluated ({result.infeasible} infeasible) in {wall:.1f} s; "
          f"best {best}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
