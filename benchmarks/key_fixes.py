"""How many scores each key fix changes, on a re-run of a fixed sample.

Before the fixes, the store key held no batch split and the out-of-memory retry reused the
half-run model; so (1) a score computed with ``--chunk-size K`` was served to a run without it
(and the other way round), and (2) a retried score came from damaged weights. This script scores
a fixed sample of NAS-Bench-201 cells both ways and counts the values that differ:

* ``split``: each split-sensitive proxy (grad-norm, snip, fisher, grasp, jacob-cov) scored on the
  whole batch and with ``chunk_size`` (default 4): the scores the old key would have confused;
  the split-invariant per-sample-gradient proxies are scored both ways too, as a control (their
  values must not change, so their keys stay shared);
* ``oom_retry``: a simulated out-of-memory error on the first attempt, after that attempt scaled
  the weights; the value of the retry without restoring the initial weights (the old behaviour)
  against the value with restoring them (the new one, which equals the unchunked value).

Run (one thread; about a minute)::

    OMP_NUM_THREADS=1 python benchmarks/key_fixes.py --n 8 --seed 0

Writes ``benchmarks/results/key_fixes.json`` (``--out``), including the command.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import shared_root  # noqa: E402  (puts this checkout first)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's nasx, not an installed one
SENSITIVE = ("grad-norm", "snip", "fisher", "grasp", "jacob-cov")
INVARIANT = ("gradalign-i", "gradalign-ii", "gradsign")


def _same(a: float | None, b: float | None, rel: float = 1e-6) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=8, help="cells (seeded sample of NAS-Bench-201)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk-size", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--data", default=None, help="shared data folder (default ../shared/data)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "key_fixes.json"))
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    import nasx  # noqa: F401
    from nasx.api import make_batch, make_space
    from nasx.proxies.base import get_proxy
    from nasx.scoring import Scorer

    root = shared_root(args.data)
    npz = root / "cifar10" / "probe_train.npz"
    if not npz.exists():
        sys.exit(f"missing {npz}; set --data or NASX_SHARED_DATA")
    space = make_space("nasbench201", C=8, N=1, input_size=16)
    rng = np.random.default_rng(args.seed)
    cells = [space.sample(rng) for _ in range(args.n)]
    batch = make_batch(str(npz), space, batch_size=args.batch_size, seed=args.seed)
    t0 = time.perf_counter()

    full = Scorer(space, batch, device="cpu", seed=args.seed)
    split = Scorer(space, batch, device="cpu", seed=args.seed, chunk_size=args.chunk_size)
    split_counts = {}
    for name in SENSITIVE + INVARIANT:
        a = [full.score(c, name).value for c in cells]
        b = [split.score(c, name).value for c in cells]
        split_counts[name] = {"changed": sum(not _same(x, y) for x, y in zip(a, b)),
                              "of": len(cells), "split_sensitive": get_proxy(name).split_sensitive}

    def damaging(real, restore_first: bool):
        calls = []

        def fn(model, batch, ctx, **opts):
            calls.append(1)
            if len(calls) % 2 == 1:
                with torch.no_grad():
                    for p in model.parameters():
                        p.mul_(3.0)
                raise torch.cuda.OutOfMemoryError("simulated")
            return real.fn(model, batch, ctx, **opts)

        def old(model, batch, ctx, **opts):  # the retry on the damaged model, as before
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(3.0)
            return real.fn(model, batch, ctx, **opts)

        return replace(real, fn=fn if restore_first else old)

    oom_counts = {}
    for name in INVARIANT:
        real = get_proxy(name)
        new = [full.score(c, damaging(real, True)).value for c in cells]
        old = [full.score(c, damaging(real, False)).value for c in cells]
        plain = [full.score(c, real).value for c in cells]
        oom_counts[name] = {
            "old_retry_differs_from_unchunked": sum(not _same(o, p) for o, p in zip(old, plain)),
            "new_retry_differs_from_unchunked": sum(not _same(x, p, 1e-3)
                                                    for x, p in zip(new, plain)),
            "of": len(cells)}
    seconds = time.perf_counter() - t0
    cmd = "OMP_NUM_THREADS=1 python benchmarks/key_fixes.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    report = {
        "command": cmd,
        "settings": {"n": args.n, "seed": args.seed, "chunk_size": args.chunk_size,
                     "batch_size": args.batch_size, "space": "nasbench201 C=8 N=1 16x16",
                     "data_fingerprint": batch.fingerprint, "seconds": round(seconds, 1),
                     "machine": "shared CPU machine (2 cores, several concurrent users)",
                     "torch": torch.__version__},
        "cells": [str(c) for c in cells],
        "split": split_counts,
        "oom_retry": oom_counts,
    }
    Path(args.out).write_text(json.dumps(report, indent=1))
    for k, v in split_counts.items():
        print(f"split   {k:13s} changed {v['changed']}/{v['of']}")
    for k, v in oom_counts.items():
        print(f"oom     {k:13s} old retry differs {v['old_retry_differs_from_unchunked']}/"
              f"{v['of']}, new retry differs {v['new_retry_differs_from_unchunked']}/{v['of']}")
    print(f"wrote {args.out}\nrerun: {cmd}")
    return report


if __name__ == "__main__":
    main()
