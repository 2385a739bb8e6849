"""The number of linear regions is sensitive to single parameters (GradAlign paper, Fig. 4).

Builds the paper's network ``A1 = max(W1 x + B1, 0)``, ``A2 = max(W2 A1 + B2, 0)``,
``O = max(W3 A2 + B3, 0)`` (W1, W2: 2x2; W3: 2 units -> 1) with a seeded random
initialisation, counts its linear regions in ``[-a, a]^2`` exactly, then searches (seeded) for
the smallest perturbation of ONE parameter that changes the count, and draws both partitions
side by side.

Usage:
    python examples/linear_regions.py regions.png [--seed 0] [--box 2] [--json]

Needs matplotlib (``pip install 'nasx[plot]'``).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from nasx.linear_regions import count_linear_regions, linear_region_polygons
from nasx.plot import plot_linear_regions

SHAPES = {"W1": (2, 2), "B1": (2,), "W2": (2, 2), "B2": (2,), "W3": (1, 2), "B3": (1,)}
DELTAS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def init_params(seed: int) -> dict[str, np.ndarray]:
    """Weights ~ N(0, 1), biases ~ N(0, 0.5^2), from one seeded generator."""
    rng = np.random.default_rng(seed)
    return {k: rng.normal(0.0, 1.0 if k[0] == "W" else 0.5, size=s) for k, s in SHAPES.items()}


def as_layers(p: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return [p["W1"], p["W2"], p["W3"]], [p["B1"], p["B2"], p["B3"]]


def find_perturbation(p: dict[str, np.ndarray], box: float, seed: int
                      ) -> tuple[str, tuple[int, ...], float, int] | None:
    """Smallest ``|delta|`` (from :data:`DELTAS`) added to one parameter that changes the
    region count; among ties the largest change, increases first. Parameters are visited in
    a seeded random order. Returns (tensor name, index, delta, new count) or None."""
    base = count_linear_regions(*as_layers(p), box=box)
    rng = np.random.default_rng(seed + 1)
    slots = [(k, idx) for k, s in SHAPES.items() for idx in np.ndindex(*s)]
    order = rng.permutation(len(slots))
    for d in DELTAS:
        found = []
        for i in order:
            name, idx = slots[int(i)]
            for delta in (d, -d):
                q = {k: v.copy() for k, v in p.items()}
                q[name][idx] += delta
                n = count_linear_regions(*as_layers(q), box=box)
                if n != base:
                    found.append((n > base, abs(n - base), name, idx, delta, n))
        if found:
            found.sort(key=lambda t: (not t[0], -t[1]))  # stable: keeps the seeded order
            _, _, name, idx, delta, n = found[0]
            return name, tuple(int(i) for i in idx), delta, n
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("png", help="output image (side-by-side partitions)")
    ap.add_argument("--seed", type=int, default=0, help="initialisation and search seed [0]")
    ap.add_argument("--box", type=float, default=2.0, help="half-width a of [-a, a]^2 [2]")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)

    p = init_params(args.seed)
    before = linear_region_polygons(*as_layers(p), box=args.box)
    hit = find_perturbation(p, args.box, args.seed)
    if hit is None:
        print(f"no single-parameter perturbation up to {max(DELTAS)} changes the count "
              f"({len(before)} regions); try another --seed", file=sys.stderr)
        return 1
    name, idx, delta, n_after = hit
    q = {k: v.copy() for k, v in p.items()}
    q[name][idx] += delta
    after = linear_region_polygons(*as_layers(q), box=args.box)
    assert len(after) == n_after
    where = f"{name}[{','.join(map(str, idx))}]"
    plot_linear_regions(
        [before, after], args.png, box=args.box, seed=args.seed,
        titles=[f"initialisation: {len(before)} regions",
                f"{where} {p[name][idx]:+.3f} -> {q[name][idx]:+.3f}: {len(after)} regions"],
    )
    result = {
        "seed": args.seed, "box": [-args.box, args.box], "regions_before": len(before),
        "perturbed": where, "value_before": float(p[name][idx]),
        "value_after": float(q[name][idx]), "delta": delta, "regions_after": len(after),
        "params": {k: v.tolist() for k, v in p.items()}, "png": args.png,
        "command": "python examples/linear_regions.py " + " ".join(sys.argv[1:] if argv is None
                                                                   else argv),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"initialisation (seed {args.seed}): {len(before)} linear regions in "
              f"[-{args.box}, {args.box}]^2")
        print(f"{where}: {p[name][idx]:+.4f} -> {q[name][idx]:+.4f} (delta {delta:+}): "
              f"{len(after)} linear regions")
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
