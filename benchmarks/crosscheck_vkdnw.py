"""VKDNW in nasx versus the authors' code, side by side, and against NAS-Bench-201 accuracy.

Mode ``crosscheck`` (default): for ``--n`` NAS-Bench-201 cells (drawn as in
``benchmarks/reference_crosscheck.py``), build the network once with nasx's builder, copy its
state, and score the *same* network with nasx's ``vkdnw-entropy`` / ``vkdnw-dim`` / ``vkdnw`` and
with the reference ``compute_nas_score`` of ``ondratybl/VKDNW``
(``NB201/ZeroShotProxy/compute_vkdnw_score.py``), imported by path from ``--ref-root`` (a
checkout kept outside the project, e.g. ``/tmp/ref-vkdnw``), called with ``p=1`` (one weight per
tensor, the first; the file's default ``p=0`` selects no weight and fails) and
``params_grad_len=128``. Both re-initialise the network (Kaiming fan-in) and draw their Gaussian
inputs from a generator seeded with ``--seed`` (nasx: ``ctx.generator``; reference: the global
torch generator, seeded right before the call), so weights and inputs are the same numbers.
Shims, around the reference call only: ``nn.Module.cuda`` returns the module (CPU-only torch);
inside the reference's ``compute_prediction`` the parameter copies are ``detach().clone()``
instead of ``detach()`` (the source line is replaced when the module is loaded), because current
``torch.func`` refuses an in-place write into a captured tensor (the values are the same); and
nasx's network, which returns logits, is wrapped to return ``(logits, logits)`` (the
reference reads output ``[1]`` of AutoDL's ``TinyNetwork``). Reported per proxy: Spearman rho,
Kendall tau and the largest relative difference between nasx and the reference; ``vkdnw`` is
compared with the reference's lexicographic ``(vkdnw_dim, vkdnw_entropy)`` dense rank.

Mode ``truth``: scores ``--n`` cells with ``vkdnw-entropy``, ``vkdnw-dim``, ``vkdnw`` and the
other terms of ``vkdnw-agg`` (``jacob-cov`` on a class-balanced probe batch of CIFAR-10 images,
``az-expressivity``, ``az-trainability``, ``az-complexity``), aggregates ``vkdnw-agg`` over them
(:func:`nasx.population.log_rank_sum`) and reports Kendall tau / Spearman rho of each against
``accuracies.csv`` ``cifar10_test`` (which measures every orientation).

Both write JSON with ``--out`` and print the command that reproduces them.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from crosscheck_aznas import module_cuda_is_noop  # noqa: E402
from reference_crosscheck import (  # noqa: E402
    ctx_for,
    default_data,
    kendall,
    pick_cells,
    read_rows,
    run_mode,
    spearman,
)

from nasx.data import draw_batch, load_dataset  # noqa: E402
from nasx.evaluation import rank_metrics  # noqa: E402
from nasx.population import log_rank_sum  # noqa: E402
from nasx.proxies.base import get_proxy  # noqa: E402
from nasx.spaces.nasbench201 import NASBench201  # noqa: E402

OURS = ("vkdnw-entropy", "vkdnw-dim", "vkdnw")
AGG = ("vkdnw", "jacob-cov", "az-expressivity", "az-trainability", "az-complexity")


# current torch.func refuses the reference's in-place write into a tensor captured from outside
# the transformed function; cloning it inside the function computes the same values
CAPTURED = "            params = {k: v.detach() for k, v in model.named_parameters()}"
CLONED = "            params = {k: v.detach().clone() for k, v in model.named_parameters()}"


class TwoOutputs(torch.nn.Module):
    """nasx network returning ``(logits, logits)`` like AutoDL's ``TinyNetwork``."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(x)
        return out, out


def reference(root: Path) -> Callable[[torch.nn.Module, int, int, int], dict] | None:
    path = root / "NB201" / "ZeroShotProxy" / "compute_vkdnw_score.py"
    if not path.is_file():
        return None
    source = path.read_text()
    if CAPTURED not in source:
        raise SystemExit(f"{path}: the line to shim was not found (reference changed?)")
    mod = types.ModuleType("vkdnw_ref_score")
    mod.__file__ = str(path)
    sys.modules[mod.__name__] = mod
    exec(compile(source.replace(CAPTURED, CLONED), str(path), "exec"), mod.__dict__)

    def run(net: torch.nn.Module, seed: int, resolution: int, batch_size: int) -> dict:
        with module_cuda_is_noop():
            torch.manual_seed(seed)
            info = mod.compute_nas_score(TwoOutputs(net), gpu=None, trainloader=None,
                                         resolution=resolution, batch_size=batch_size,
                                         params_grad_len=128, p=1)
        return {k: float(v) for k, v in info.items()}

    return run


def probe(data: Path, space: Any, seed: int, n: int):
    ds = load_dataset(str(data / "cifar10" / "probe_train.npz"))
    return draw_batch(ds, n, seed, input_size=space.input_shape[1])


def compare(a_list: list[float], b_list: list[float]) -> dict[str, Any]:
    a, b = np.asarray(a_list, float), np.asarray(b_list, float)
    ok = np.isfinite(a) & np.isfinite(b)
    rel = float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-12))) \
        if ok.any() else float("nan")
    return {"n": len(a), "spearman": spearman(list(a), list(b)),
            "kendall": kendall(list(a), list(b)), "max_rel_diff": rel,
            "failed_ours": int((~np.isfinite(a)).sum()),
            "failed_ref": int((~np.isfinite(b)).sum()),
            "ours": [float(x) for x in a], "ref": [float(x) for x in b]}


def run_crosscheck(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data)
    space = NASBench201(C=args.C, N=args.N)
    cells = pick_cells(data, args.n, args.seed)
    batch = probe(data, space, args.seed, 20)
    ref = reference(Path(args.ref_root))
    if ref is None:
        raise SystemExit(f"reference not found under {args.ref_root} "
                         "(NB201/ZeroShotProxy/compute_vkdnw_score.py)")
    ours: dict[str, list[float]] = {p: [] for p in OURS}
    refs: dict[str, list[float]] = {"vkdnw_entropy": [], "vkdnw_dim": []}
    secs = {"ours": [], "ref": []}
    for k, (index, text) in enumerate(cells):
        arch = space.parse(text)
        torch.manual_seed(args.seed)
        net = space.build(arch, 10)
        initial = copy.deepcopy(net.state_dict())
        ctx = ctx_for(space, args.seed, 10)  # one context: the three share one Fisher
        t0 = time.perf_counter()
        for p in OURS:
            model = space.build(arch, 10)
            model.load_state_dict(initial)
            spec = get_proxy(p)
            opts = {} if p == "vkdnw-dim" else {"batch_size": args.batch_size}
            ours[p].append(float(spec.fn(model, batch, ctx, **opts)))  # type: ignore[misc]
        secs["ours"].append(time.perf_counter() - t0)
        model = space.build(arch, 10)
        model.load_state_dict(initial)
        t0 = time.perf_counter()
        r = ref(model, args.seed, space.input_shape[1], args.batch_size)
        secs["ref"].append(time.perf_counter() - t0)
        for key in refs:
            refs[key].append(r[key] if np.isfinite(r[key]) else float("nan"))
        print(f"[{k + 1}/{len(cells)}] cell {index}: entropy {ours['vkdnw-entropy'][-1]:.6g}/"
              f"{refs['vkdnw_entropy'][-1]:.6g}, dim {ours['vkdnw-dim'][-1]:.0f}/"
              f"{refs['vkdnw_dim'][-1]:.0f}", flush=True)
    # the reference's VKDNW_single: dense rank of the (dim, entropy) tuple
    tuples = list(zip(refs["vkdnw_dim"], refs["vkdnw_entropy"]))
    order = {t: i for i, t in enumerate(sorted(set(tuples)))}
    ref_single = [float(order[t] + 1) for t in tuples]
    out: dict[str, Any] = {"mode": "crosscheck", "cells": [c for c, _ in cells],
                           "settings": vars(args).copy(), "proxies": {
                               "vkdnw-entropy": compare(ours["vkdnw-entropy"],
                                                        refs["vkdnw_entropy"]),
                               "vkdnw-dim": compare(ours["vkdnw-dim"], refs["vkdnw_dim"]),
                               "vkdnw": compare(list(rankdata(ours["vkdnw"], "dense")),
                                                ref_single)},
                           "seconds_per_cell_ours": float(np.mean(secs["ours"])),
                           "seconds_per_cell_ref": float(np.mean(secs["ref"])),
                           "note": "vkdnw is compared as dense ranks (the reference defines "
                                   "only the order); timings from a shared, loaded CPU"}
    print(f"\n{'proxy':16s} {'n':>3s} {'spearman':>9s} {'kendall':>8s} {'max rel diff':>13s}")
    for p, res in out["proxies"].items():
        print(f"{p:16s} {res['n']:3d} {res['spearman']:9.6f} {res['kendall']:8.5f} "
              f"{res['max_rel_diff']:13.3g}")
    return out


def run_truth(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data)
    space = NASBench201(C=args.C, N=args.N)
    cells = pick_cells(data, args.n, args.seed)
    batch = probe(data, space, args.seed, args.probe_batch)
    rows = read_rows(data)
    acc = [float(rows[i][args.acc_col]) for i, _ in cells]
    names = ("vkdnw-entropy", "vkdnw-dim", "vkdnw", "jacob-cov", "az-expressivity",
             "az-trainability", "az-complexity")
    gaussian = {"vkdnw-entropy", "vkdnw", "az-expressivity", "az-trainability"}
    values: dict[str, list[float]] = {p: [] for p in names}
    secs = []
    for k, (index, text) in enumerate(cells):
        arch = space.parse(text)
        torch.manual_seed(args.seed)
        net = space.build(arch, 10)
        initial = copy.deepcopy(net.state_dict())
        ctx = ctx_for(space, args.seed, 10)
        t0 = time.perf_counter()
        for p in names:
            model = space.build(arch, 10)
            model.load_state_dict(initial)
            model.train()
            spec = get_proxy(p)
            opts = {"batch_size": args.batch_size} if p in gaussian else {}
            ctx.generator = torch.Generator().manual_seed(args.seed)
            try:
                v = float(spec.fn(model, batch, ctx, **opts))  # type: ignore[misc]
            except Exception as exc:  # recorded as a failure, as the scorer does
                print(f"  {p} failed on {index}: {type(exc).__name__}: {exc}")
                v = float("nan")
            values[p].append(v if np.isfinite(v) else float("nan"))
        secs.append(time.perf_counter() - t0)
        print(f"[{k + 1}/{len(cells)}] cell {index} acc {acc[k]}: "
              + ", ".join(f"{p}={values[p][-1]:.6g}" for p in names), flush=True)
        if args.out and (k + 1) % 10 == 0 and k + 1 < len(cells):  # checkpoint
            part = summarise(args, cells, acc, values, secs, partial=True, quiet=True)
            Path(args.out).write_text(json.dumps(part, indent=1, default=lambda o: None))
    return summarise(args, cells, acc, values, secs)


def summarise(args: argparse.Namespace, cells: list, acc: list[float],
              values: dict[str, list[float]], secs: list[float], partial: bool = False,
              quiet: bool = False) -> dict[str, Any]:
    n = len(values["vkdnw"])
    acc = acc[:n]
    table = {p: v for p, v in values.items()}
    table["vkdnw-agg"] = list(log_rank_sum({p: np.asarray(values[p]) for p in AGG}))
    out: dict[str, Any] = {"mode": "truth", "cells": [c for c, _ in cells[:n]], "accuracy": acc,
                           "settings": vars(args).copy(), "proxies": {}, "partial": partial,
                           "seconds_per_cell": float(np.mean(secs)),
                           "note": "timings from a shared, loaded 2-core CPU machine"}
    if not quiet:
        print(f"\n{'proxy':16s} {'kendall':>8s} {'spearman':>9s} {'failed':>6s} "
              "(oriented as registered)")
    for p, v in table.items():
        hib = get_proxy(p).higher_is_better
        m = rank_metrics(v, acc, hib)
        out["proxies"][p] = {"higher_is_better": hib, "kendall": m["kendall"],
                             "spearman": m["spearman"], "failed": m["failed"],
                             "values": [float(x) for x in v]}
        if not quiet:
            print(f"{p:16s} {m['kendall']:8.4f} {m['spearman']:9.4f} {m['failed']:6d}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("crosscheck", "truth"), default="crosscheck")
    ap.add_argument("--ref-root", default="/tmp/ref-vkdnw",
                    help="checkout of ondratybl/VKDNW (needs NB201/ZeroShotProxy)")
    ap.add_argument("--data", default=str(default_data()))
    ap.add_argument("--n", type=int, default=30, help="number of NAS-Bench-201 cells")
    ap.add_argument("--seed", type=int, default=0, help="cell sample, init and input seed")
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--N", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64, help="Gaussian inputs per pass")
    ap.add_argument("--probe-batch", type=int, default=64,
                    help="truth mode: CIFAR-10 images for jacob-cov")
    ap.add_argument("--acc-col", default="cifar10_test", help="truth mode: accuracy column")
    ap.add_argument("--out", default=None, help="JSON output path")
    args = ap.parse_args(argv)
    return run_mode(args, argv, "crosscheck_vkdnw.py", run_crosscheck, run_truth)


if __name__ == "__main__":
    raise SystemExit(main())
