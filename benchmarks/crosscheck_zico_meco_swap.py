"""ZiCo, MeCo and SWAP: side-by-side check against the authors' code, and ranking on NB201.

Mode ``crosscheck`` (default): for ``--n`` NAS-Bench-201 cells (drawn with ``--seed`` from the
cells NASLib scored, as ``reference_crosscheck.py``), build each network once with nasx's builder
(seeded) and score the *same* network (same initial weights, same probe batch) with nasx's proxy
and with the reference code, loaded by path from ``--ref-root`` (copies of the authors'
repositories kept outside nasx):

=========  ==================================================================================
proxy      reference (repository: file)
=========  ==================================================================================
zico       SLDGroup/ZiCo: ZeroShotProxy/compute_zico.py (``getzico``), fed the two halves of
           the probe batch as its two loader batches
meco       HamsterMimi/MeCo: correlation/NAS_Bench_201.py (``get_score``, extracted with
           ``ast``; the script's other imports need NAS-Bench-201 itself), fed the first image
swap       pym1024/SWAP: src/metrics/swap.py (``SWAP``) + src/utils/utilities.py
           (``network_weight_gaussian_init``), driven as its correlation.py: before every repeat
           the reference re-draws the weights (global generator, seeded per repeat); nasx scores
           a copy of exactly those weights (``init="none"``); the cell's value is the mean over
           ``--swap-repeats`` repeats
swap[own]  nasx's full ``swap`` (its own seeded Gaussian draws, ``--swap-repeats`` repeats)
           against the reference's mean over the same number of its own draws: the same
           distribution, not the same weights, so only a rank agreement is expected
=========  ==================================================================================

Shims (CPU-only torch): ``Tensor.cuda`` / ``Module.cuda`` return the object itself, and the
unused imports of compute_zico.py (``global_utils``, ``ModelLoader``) are stubbed.

Per proxy the script prints Spearman rho and Kendall tau between nasx's and the reference values
over the cells, the largest relative difference, and the mean seconds of each implementation.

Mode ``truth``: scores ``--n`` cells with nasx's ``zico``, ``meco`` and ``swap`` (registered
defaults) and reports Kendall tau / Spearman rho of the oriented score against
``accuracies.csv`` ``cifar10_test``, plus the raw (unoriented) Spearman, which is what the
declared orientations are checked against. Probe batches: CIFAR-10 probe images drawn with
``--seed``, ``--zico-batch`` (two halves) for zico, the first image of it for meco,
``--swap-batch`` for swap.

Both write JSON with ``--out`` and print the command that reproduces them. Timings come from a
shared, loaded CPU machine unless stated otherwise.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from reference_crosscheck import (  # noqa: E402
    ctx_for,
    default_data,
    kendall,
    load_module,
    pick_cells,
    read_rows,
    run_mode,
    spearman,
    stub_modules,
)

from nasx.data import ProbeBatch, draw_batch, load_dataset  # noqa: E402
from nasx.evaluation import rank_metrics  # noqa: E402
from nasx.proxies.base import get_proxy  # noqa: E402
from nasx.proxies.swap import swap as nasx_swap  # noqa: E402
from nasx.spaces.nasbench201 import NASBench201  # noqa: E402

PROXIES = ("zico", "meco", "swap")


@contextlib.contextmanager
def cpu_cuda() -> Iterator[None]:
    """``.cuda()`` on tensors and modules is the identity (CPU-only torch)."""
    saved = (torch.Tensor.cuda, torch.nn.Module.cuda)
    torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    torch.nn.Module.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.cuda, torch.nn.Module.cuda = saved  # type: ignore[method-assign]


def sub_batch(b: ProbeBatch, start: int, stop: int) -> ProbeBatch:
    return ProbeBatch(x=b.x[start:stop], y=b.y[start:stop], num_classes=b.num_classes,
                      fingerprint=f"{b.fingerprint}[{start}:{stop}]", source=b.source)


def probe_batches(data: Path, space: Any, args: argparse.Namespace) -> dict[str, ProbeBatch]:
    ds = load_dataset(str(data / "cifar10" / "probe_train.npz"))
    size = space.input_shape[1]
    zb = draw_batch(ds, args.zico_batch, args.seed, input_size=size)
    return {"zico": zb, "meco": sub_batch(zb, 0, 1),
            "swap": draw_batch(ds, args.swap_batch, args.seed, input_size=size)}


# -- references --------------------------------------------------------------------------------
def ref_zico(root: Path) -> Callable | None:
    path = root / "ref-zico" / "ZeroShotProxy" / "compute_zico.py"
    if not path.is_file():
        return None
    stub_modules(["global_utils", "ModelLoader"])
    mod = load_module("zico_ref", path)

    def run(net: torch.nn.Module, batch: ProbeBatch) -> float:
        n = int(batch.x.shape[0])
        loader = [(batch.x[: n // 2], batch.y[: n // 2]), (batch.x[n // 2:], batch.y[n // 2:])]
        with cpu_cuda():
            return float(mod.getzico(net, loader, F.cross_entropy))

    return run


def ref_meco(root: Path) -> Callable | None:
    script = root / "ref-meco" / "correlation" / "NAS_Bench_201.py"
    if not script.is_file():
        return None
    import random

    tree = ast.parse(script.read_text())
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "get_score"]
    code = compile(ast.Module(body=defs, type_ignores=[]), str(script), "exec")
    ns: dict[str, Any] = {"torch": torch, "random": random}
    exec(code, ns)

    def run(net: torch.nn.Module, batch: ProbeBatch) -> float:
        net.train()
        return float(ns["get_score"](net, batch.x, "cpu", measure="meco"))

    return run


def ref_swap(root: Path) -> tuple[Any, Any] | None:
    base = root / "ref-swap"
    if not (base / "src" / "metrics" / "swap.py").is_file():
        return None
    sys.path.insert(0, str(base))
    from src.metrics.swap import SWAP  # type: ignore
    from src.utils.utilities import network_weight_gaussian_init  # type: ignore

    return SWAP, network_weight_gaussian_init


def rel_diff(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return float("nan")
    return float(np.max(np.abs(x[ok] - y[ok]) / np.maximum(np.abs(y[ok]), 1e-12)))


def run_crosscheck(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data)
    root = Path(args.ref_root)
    space = NASBench201(C=args.C, N=args.N)
    cells = pick_cells(data, args.n, args.seed)
    probe = probe_batches(data, space, args)
    refs: dict[str, Any] = {"zico": ref_zico(root), "meco": ref_meco(root),
                            "swap": ref_swap(root)}
    variants = [p for p in args.proxies if refs.get(p) is not None]
    if "swap" in variants:
        variants.append("swap[own]")
    for p in args.proxies:
        if refs.get(p) is None:
            print(f"[skip] {p}: reference not found under {root}")
    vals: dict[str, dict[str, list[float]]] = {
        v: {"ours": [], "ref": [], "t_ours": [], "t_ref": []} for v in variants}
    for k, (index, text) in enumerate(cells):
        arch = space.parse(text)
        torch.manual_seed(args.seed)
        net = space.build(arch, 10)
        initial = copy.deepcopy(net.state_dict())

        def fresh(arch=arch, initial=initial) -> torch.nn.Module:
            m = space.build(arch, 10)
            m.load_state_dict(initial)
            m.train()
            return m

        for p in ("zico", "meco"):
            if p not in variants:
                continue
            spec = get_proxy(p)
            t0 = time.perf_counter()
            ours = spec.fn(fresh(), probe[p], ctx_for(space, args.seed, 10),  # type: ignore
                           **dict(spec.options))
            t1 = time.perf_counter()
            ref = refs[p](fresh(), probe[p])
            t2 = time.perf_counter()
            vals[p]["ours"].append(float(ours))
            vals[p]["ref"].append(float(ref))
            vals[p]["t_ours"].append(t1 - t0)
            vals[p]["t_ref"].append(t2 - t1)
        if "swap" in variants:
            swap_cls, ginit = refs["swap"]
            batch = probe["swap"]
            # same weights: the reference draws them, nasx scores a copy
            ref_net, our_net = fresh(), fresh()
            scorer = swap_cls(model=ref_net, inputs=batch.x, device="cpu", seed=args.seed)
            ours_r, ref_r, t_o, t_r = [], [], 0.0, 0.0
            for r in range(args.swap_repeats):
                torch.manual_seed(args.seed * 1000 + r)
                ref_net.apply(ginit)
                our_net.load_state_dict(ref_net.state_dict())
                t0 = time.perf_counter()
                scorer.reinit()
                ref_r.append(float(scorer.forward()))
                scorer.clear()
                t1 = time.perf_counter()
                ours_r.append(nasx_swap(our_net, batch, ctx_for(space, args.seed, 10),
                                        repeats=1, init="none"))
                t_r += t1 - t0
                t_o += time.perf_counter() - t1
            vals["swap"]["ours"].append(float(np.mean(ours_r)))
            vals["swap"]["ref"].append(float(np.mean(ref_r)))
            vals["swap"]["t_ours"].append(t_o)
            vals["swap"]["t_ref"].append(t_r)
            # own draws on both sides: nasx's seeded generator vs the reference's procedure
            t0 = time.perf_counter()
            own = nasx_swap(fresh(), batch, ctx_for(space, args.seed, 10),
                            repeats=args.swap_repeats)
            t1 = time.perf_counter()
            ref_net2 = fresh()
            scorer2 = swap_cls(model=ref_net2, inputs=batch.x, device="cpu", seed=args.seed)
            torch.manual_seed(args.seed + 7919)
            ref_own = []
            for _ in range(args.swap_repeats):
                ref_net2.apply(ginit)
                scorer2.reinit()
                ref_own.append(float(scorer2.forward()))
                scorer2.clear()
            vals["swap[own]"]["ours"].append(float(own))
            vals["swap[own]"]["ref"].append(float(np.mean(ref_own)))
            vals["swap[own]"]["t_ours"].append(t1 - t0)
            vals["swap[own]"]["t_ref"].append(time.perf_counter() - t1)
        print(f"[{k + 1}/{len(cells)}] cell {index}: " + ", ".join(
            f"{v}={vals[v]['ours'][-1]:.8g}/{vals[v]['ref'][-1]:.8g}" for v in variants),
            flush=True)
    out: dict[str, Any] = {"mode": "crosscheck", "cells": [c for c, _ in cells],
                           "settings": vars(args).copy(), "proxies": {}}
    print(f"\n{'proxy':10s} {'n':>3s} {'spearman':>9s} {'kendall':>8s} {'max rel diff':>13s} "
          f"{'ours s':>8s} {'ref s':>8s}")
    for v, d in vals.items():
        res = {"n": len(d["ours"]), "spearman": spearman(d["ours"], d["ref"]),
               "kendall": kendall(d["ours"], d["ref"]),
               "max_rel_diff": rel_diff(d["ours"], d["ref"]),
               "seconds_ours": float(np.mean(d["t_ours"])),
               "seconds_ref": float(np.mean(d["t_ref"])),
               "ours": d["ours"], "ref": d["ref"]}
        out["proxies"][v] = res
        print(f"{v:10s} {res['n']:3d} {res['spearman']:9.4f} {res['kendall']:8.4f} "
              f"{res['max_rel_diff']:13.3g} {res['seconds_ours']:8.3f} "
              f"{res['seconds_ref']:8.3f}")
    return out


def run_truth(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data)
    space = NASBench201(C=args.C, N=args.N)
    cells = pick_cells(data, args.n, args.seed)
    probe = probe_batches(data, space, args)
    rows = read_rows(data)
    acc = [float(rows[i]["cifar10_test"]) for i, _ in cells]
    values: dict[str, list[float]] = {p: [] for p in args.proxies}
    secs: dict[str, list[float]] = {p: [] for p in args.proxies}
    for k, (index, text) in enumerate(cells):
        arch = space.parse(text)
        for p in args.proxies:
            spec = get_proxy(p)
            torch.manual_seed(args.seed)
            model = space.build(arch, 10)
            t0 = time.perf_counter()
            try:
                v = float(spec(model, probe[p], ctx_for(space, args.seed, 10)))
            except Exception as exc:  # recorded as a failure, as the scorer does
                print(f"  {p} failed on {index}: {type(exc).__name__}: {exc}")
                v = float("nan")
            secs[p].append(time.perf_counter() - t0)
            values[p].append(v if math.isfinite(v) else float("nan"))
        print(f"[{k + 1}/{len(cells)}] cell {index} acc {rows[index]['cifar10_test']}: "
              + ", ".join(f"{p}={values[p][-1]:.6g}" for p in args.proxies), flush=True)
    out: dict[str, Any] = {"mode": "truth", "cells": [c for c, _ in cells],
                           "accuracy_column": "cifar10_test",
                           "settings": vars(args).copy(), "proxies": {}}
    print(f"\n{'proxy':8s} {'hib':>5s} {'kendall':>8s} {'spearman':>9s} {'raw rho':>8s} "
          f"{'failed':>6s} {'sec':>7s}")
    for p, v in values.items():
        spec = get_proxy(p)
        m = rank_metrics(v, acc, spec.higher_is_better)
        raw = spearman(v, acc)
        res = {"higher_is_better": spec.higher_is_better, "options": dict(spec.options),
               "kendall": m["kendall"], "spearman": m["spearman"],
               "raw_spearman": raw,
               "orientation_agrees": bool((raw > 0) == spec.higher_is_better),
               "failed": m["failed"], "values": v, "seconds": float(np.mean(secs[p]))}
        out["proxies"][p] = res
        print(f"{p:8s} {str(spec.higher_is_better):>5s} {m['kendall']:8.4f} "
              f"{m['spearman']:9.4f} {raw:8.4f} {m['failed']:6d} {res['seconds']:7.3f}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("crosscheck", "truth"), default="crosscheck")
    ap.add_argument("--ref-root", default="/tmp",
                    help="folder holding ref-zico/, ref-meco/ and ref-swap/ (crosscheck mode)")
    ap.add_argument("--data", default=str(default_data()))
    ap.add_argument("--n", type=int, default=30, help="number of NAS-Bench-201 cells")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--zico-batch", type=int, default=128,
                    help="zico probe batch (two halves); meco uses its first image")
    ap.add_argument("--swap-batch", type=int, default=16)
    ap.add_argument("--swap-repeats", type=int, default=8, help="crosscheck mode only")
    ap.add_argument("--proxies", default=",".join(PROXIES))
    ap.add_argument("--out", default=None, help="JSON output path")
    args = ap.parse_args(argv)
    args.proxies = [p.strip() for p in args.proxies.split(",") if p.strip()]
    unknown = sorted(set(args.proxies) - set(PROXIES))
    if unknown:
        print(f"unknown proxies {unknown}; choose from {', '.join(PROXIES)}")
        return 2
    return run_mode(args, argv, "crosscheck_zico_meco_swap.py", run_crosscheck, run_truth,
                    machine="cpu, shared and loaded (timings are indicative only)")


if __name__ == "__main__":
    raise SystemExit(main())
