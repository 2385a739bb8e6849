"""AZ-NAS in nasx versus the authors' code, side by side, and against NAS-Bench-201 accuracy.

Mode ``crosscheck`` (default): for ``--n`` NAS-Bench-201 cells (drawn as in
``benchmarks/reference_crosscheck.py``), build the network once with nasx's builder, copy its
state, and score the *same* network with nasx's ``az-expressivity`` / ``az-progressivity`` /
``az-trainability`` and with the reference ``compute_nas_score`` of ``cvlab-yonsei/AZ-NAS``
(``NB201/ZeroShotProxy/compute_az_nas_score.py``), imported by path from ``--ref-root`` (a
checkout kept outside the project, e.g. ``/tmp/ref-aznas``). Both re-initialise the network
(Kaiming fan-in) and draw their Gaussian inputs and Rademacher signs from a generator seeded with
``--seed`` (nasx: ``ctx.generator``; reference: the global torch generator, seeded right before
the call), so the weights, inputs and signs are the same numbers. Shims, applied only around the
reference call: ``nn.Module.cuda`` returns the module (CPU-only torch), and the network gets the
reference's ``extract_cell_features`` method, taken from ``NB201/custom/tss_model.py`` with
``ast`` (the rest of that file needs AutoDL's ``xautodl``). Per component the script reports
Spearman rho and Kendall tau between nasx's and the reference's values, and the largest
relative difference. The aggregated ``az-nas`` is compared too (log-rank sum over the cells,
with nasx's ``flops`` as complexity on both sides).

Mode ``truth``: scores ``--n`` cells with the four components, aggregates ``az-nas`` over them
(:func:`nasx.population.log_rank_sum`) and reports Kendall tau / Spearman rho of each against
``accuracies.csv`` ``cifar10_test`` (which also measures the orientation of every component).

Both write JSON with ``--out`` and print the command that reproduces them.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

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
)

from nasx.data import draw_batch, load_dataset  # noqa: E402
from nasx.evaluation import rank_metrics  # noqa: E402
from nasx.population import log_rank_sum  # noqa: E402
from nasx.proxies.base import get_proxy  # noqa: E402
from nasx.spaces.nasbench201 import NASBench201  # noqa: E402

COMPONENTS = ("az-expressivity", "az-progressivity", "az-trainability")
REF_KEYS = {"az-expressivity": "expressivity", "az-progressivity": "progressivity",
            "az-trainability": "trainability"}


@contextlib.contextmanager
def module_cuda_is_noop() -> Iterator[None]:
    saved = torch.nn.Module.cuda
    torch.nn.Module.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.nn.Module.cuda = saved  # type: ignore[method-assign]


def reference(root: Path) -> Callable[[torch.nn.Module, int, int, int], dict[str, float]] | None:
    score_path = root / "NB201" / "ZeroShotProxy" / "compute_az_nas_score.py"
    model_path = root / "NB201" / "custom" / "tss_model.py"
    if not (score_path.is_file() and model_path.is_file()):
        return None
    mod = load_module("aznas_ref_score", score_path)
    tree = ast.parse(model_path.read_text())
    cls = next(n for n in ast.walk(tree)
               if isinstance(n, ast.ClassDef) and n.name == "TinyNetwork")
    fn = next(n for n in cls.body
              if isinstance(n, ast.FunctionDef) and n.name == "extract_cell_features")
    ns: dict[str, Any] = {"torch": torch}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(model_path), "exec"), ns)
    extract = ns["extract_cell_features"]

    def run(net: torch.nn.Module, seed: int, resolution: int, batch_size: int) -> dict:
        net.extract_cell_features = types.MethodType(extract, net)
        with module_cuda_is_noop():
            torch.manual_seed(seed)
            info = mod.compute_nas_score(net, gpu=None, trainloader=None,
                                         resolution=resolution, batch_size=batch_size)
        return {k: float(v) for k, v in info.items()}

    return run


def probe(data: Path, space: Any, seed: int):
    ds = load_dataset(str(data / "cifar10" / "probe_train.npz"))
    return draw_batch(ds, 20, seed, input_size=space.input_shape[1])


def run_crosscheck(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data)
    space = NASBench201(C=args.C, N=args.N)
    cells = pick_cells(data, args.n, args.seed)
    batch = probe(data, space, args.seed)
    ref = reference(Path(args.ref_root))
    if ref is None:
        raise SystemExit(f"reference not found under {args.ref_root} (NB201/ZeroShotProxy/"
                         "compute_az_nas_score.py and NB201/custom/tss_model.py)")
    vals: dict[str, dict[str, list[float]]] = {c: {"ours": [], "ref": []} for c in COMPONENTS}
    flops: list[float] = []
    secs = {"ours": [], "ref": []}
    for k, (index, text) in enumerate(cells):
        arch = space.parse(text)
        torch.manual_seed(args.seed)
        net = space.build(arch, 10)
        initial = copy.deepcopy(net.state_dict())
        t0 = time.perf_counter()
        ctx = ctx_for(space, args.seed, 10)  # one context: the three share one pass
        for c in COMPONENTS:
            model = space.build(arch, 10)
            model.load_state_dict(initial)
            spec = get_proxy(c)
            vals[c]["ours"].append(float(spec.fn(model, batch, ctx,  # type: ignore[misc]
                                                 batch_size=args.batch_size)))
        secs["ours"].append(time.perf_counter() - t0)
        flops.append(float(get_proxy("az-complexity")(net, batch, ctx)))
        model = space.build(arch, 10)
        model.load_state_dict(initial)
        t0 = time.perf_counter()
        r = ref(model, args.seed, space.input_shape[1], args.batch_size)
        secs["ref"].append(time.perf_counter() - t0)
        for c in COMPONENTS:
            v = r[REF_KEYS[c]]
            vals[c]["ref"].append(v if np.isfinite(v) else float("nan"))
        print(f"[{k + 1}/{len(cells)}] cell {index}: " + ", ".join(
            f"{c}={vals[c]['ours'][-1]:.6g}/{vals[c]['ref'][-1]:.6g}" for c in COMPONENTS),
            flush=True)
    out: dict[str, Any] = {"mode": "crosscheck", "cells": [c for c, _ in cells],
                           "settings": vars(args).copy(), "proxies": {},
                           "seconds_per_cell_ours": float(np.mean(secs["ours"])),
                           "seconds_per_cell_ref": float(np.mean(secs["ref"]))}
    agg = {}
    for side in ("ours", "ref"):
        comps = {c: np.asarray(vals[c][side]) for c in COMPONENTS}
        comps["az-complexity"] = np.asarray(flops)
        agg[side] = list(log_rank_sum(comps))
    table = dict(vals)
    table["az-nas"] = agg
    print(f"\n{'proxy':18s} {'n':>3s} {'spearman':>9s} {'kendall':>8s} {'max rel diff':>13s} "
          f"{'nan ours/ref':>12s}")
    for c, d in table.items():
        a, b = np.asarray(d["ours"], float), np.asarray(d["ref"], float)
        ok = np.isfinite(a) & np.isfinite(b)
        rel = float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-12))) \
            if ok.any() else float("nan")
        res = {"n": len(a), "spearman": spearman(list(a), list(b)),
               "kendall": kendall(list(a), list(b)), "max_rel_diff": rel,
               "failed_ours": int((~np.isfinite(a)).sum()),
               "failed_ref": int((~np.isfinite(b)).sum()),
               "same_failures": bool(np.array_equal(~np.isfinite(a), ~np.isfinite(b))),
               "ours": [float(x) for x in a], "ref": [float(x) for x in b]}
        out["proxies"][c] = res
        print(f"{c:18s} {res['n']:3d} {res['spearman']:9.6f} {res['kendall']:8.5f} {rel:13.3g} "
              f"{res['failed_ours']:>5d}/{res['failed_ref']:<5d}")
    return out


def run_truth(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data)
    space = NASBench201(C=args.C, N=args.N)
    cells = pick_cells(data, args.n, args.seed)
    batch = probe(data, space, args.seed)
    rows = read_rows(data)
    acc = [float(rows[i][args.acc_col]) for i, _ in cells]
    names = (*COMPONENTS, "az-complexity")
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
            spec = get_proxy(p)
            opts = {"batch_size": args.batch_size} if p in COMPONENTS else {}
            try:
                v = float(spec.fn(model, batch, ctx, **opts))  # type: ignore[misc]
            except Exception as exc:  # recorded as a failure, as the scorer does
                print(f"  {p} failed on {index}: {type(exc).__name__}: {exc}")
                v = float("nan")
            values[p].append(v if np.isfinite(v) else float("nan"))
        secs.append(time.perf_counter() - t0)
        print(f"[{k + 1}/{len(cells)}] cell {index} acc {acc[k]}: "
              + ", ".join(f"{p}={values[p][-1]:.6g}" for p in names), flush=True)
    table = {p: v for p, v in values.items()}
    table["az-nas"] = list(log_rank_sum({p: np.asarray(v) for p, v in values.items()}))
    out: dict[str, Any] = {"mode": "truth", "cells": [c for c, _ in cells], "accuracy": acc,
                           "settings": vars(args).copy(), "proxies": {},
                           "seconds_per_cell": float(np.mean(secs)),
                           "note": "timings from a shared, loaded 2-core CPU machine"}
    print(f"\n{'proxy':18s} {'kendall':>8s} {'spearman':>9s} {'failed':>6s} "
          "(higher is better for all)")
    for p, v in table.items():
        m = rank_metrics(v, acc, True)
        out["proxies"][p] = {"higher_is_better": True, "kendall": m["kendall"],
                             "spearman": m["spearman"], "failed": m["failed"],
                             "values": [float(x) for x in v]}
        print(f"{p:18s} {m['kendall']:8.4f} {m['spearman']:9.4f} {m['failed']:6d}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("crosscheck", "truth"), default="crosscheck")
    ap.add_argument("--ref-root", default="/tmp/ref-aznas",
                    help="checkout of cvlab-yonsei/AZ-NAS (needs NB201/ZeroShotProxy and "
                         "NB201/custom)")
    ap.add_argument("--data", default=str(default_data()))
    ap.add_argument("--n", type=int, default=30, help="number of NAS-Bench-201 cells")
    ap.add_argument("--seed", type=int, default=0, help="cell sample, init and input seed")
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--N", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64, help="Gaussian inputs per pass")
    ap.add_argument("--acc-col", default="cifar10_test", help="truth mode: accuracy column")
    ap.add_argument("--out", default=None, help="JSON output path")
    args = ap.parse_args(argv)
    return run_mode(args, argv, "crosscheck_aznas.py", run_crosscheck, run_truth)


if __name__ == "__main__":
    raise SystemExit(main())
