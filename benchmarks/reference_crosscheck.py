"""Cross-check nasx's paper baselines against their reference implementations, side by side.

Mode ``crosscheck`` (default): for ``--n`` NAS-Bench-201 cells, build each network once with
nasx's builder (seeded), copy its initial state dict, and score the *same* network (same weights,
same probe batch, same random inputs) with nasx's proxy and with the reference code, imported by
path from ``--ref-root`` (checkouts of the reference repositories, never part of nasx):

=================  ===========================================================================
proxy              reference (repository: file)
=================  ===========================================================================
gradsign           cmu-catalyst/GradSign: zero-cost-nas-code/foresight/pruners/measures/
                   grad_conflict.py (``get_grad_conflict``)
naswot             BayesWatch/nas-without-training: score_networks.py (the hook functions and
                   ``get_batch_jacobian``, extracted from the script with ``ast``) + scores.py
ntk                VITA-Group/TENAS: lib/procedures/ntk.py (``get_ntk_n``)
linear-regions     VITA-Group/TENAS: lib/procedures/linear_region_counter.py
                   (``Linear_Region_Collector`` / ``LinearRegionCount``)
zen                idstcv/ZenNAS: ZeroShotProxy/compute_zen_score.py (``compute_nas_score``)
=================  ===========================================================================

Shims needed to run the 2020-2021 reference code on a current CPU-only torch (and nothing else):
``Tensor.cuda`` / ``torch.cuda.current_device`` map to the CPU, ``torch.symeig`` (removed from
torch) maps to ``torch.linalg.eigh`` (same ascending eigenvalues), and the unused imports of the
reference modules (torchvision, TE-NAS's ``datasets``, ZenNAS's ``global_utils``/``ModelLoader``)
are stubbed. The NASWOT script returns ``(features, logits)`` from AutoDL's network; nasx's
network is wrapped to return ``(logits, logits)`` (the first output is only back-propagated to
mark the ReLUs reached). ZenNAS needs ``forward_pre_GAP``; the reference copy gets one running
stem, cells and the final BN+ReLU. A proxy whose reference is not found is skipped with a message.

Per proxy the script prints Spearman rho and Kendall tau between nasx's and the reference values
over the cells, the largest relative difference, and the mean seconds of each implementation.

Mode ``truth``: scores ``--n`` cells (drawn from the cells NASLib's NAS-Bench-Suite-Zero file
scored on CIFAR-10) with the five proxies and te-nas, and reports Kendall tau / Spearman rho of
the oriented score against ``accuracies.csv`` ``cifar10_test``, plus Spearman of ``naswot``
against the precomputed NASWOT v1 scores and NASLib's ``nwot`` cell by cell.

Both write JSON with ``--out`` and print the command that reproduces them.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import csv
import importlib.util
import json
import math
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import shared_root  # noqa: E402  (puts this checkout first)

from nasx.data import ProbeBatch, draw_batch, load_dataset  # noqa: E402
from nasx.evaluation import rank_metrics  # noqa: E402
from nasx.population import rank_sum  # noqa: E402
from nasx.proxies.base import ScoreContext, get_proxy  # noqa: E402
from nasx.spaces.nasbench201 import NASBench201  # noqa: E402

PROXIES = ("gradsign", "naswot", "ntk", "linear-regions", "zen")


# -- helpers -----------------------------------------------------------------------------------
def default_data() -> Path:
    return shared_root()


def ctx_for(space: Any, seed: int, num_classes: int, device: str = "cpu") -> ScoreContext:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return ScoreContext(device=torch.device(device), seed=seed, num_classes=num_classes,
                        generator=g, space=space)


def load_module(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@contextlib.contextmanager
def cpu_shims() -> Iterator[None]:
    """Let 2020-era CUDA-only reference code run on the CPU (see the module docstring)."""
    saved = (torch.Tensor.cuda, torch.cuda.current_device, getattr(torch, "symeig", None))
    torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    torch.cuda.current_device = lambda: 0  # type: ignore[assignment]
    torch.symeig = lambda a, eigenvectors=False: torch.linalg.eigh(a)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        torch.Tensor.cuda, torch.cuda.current_device = saved[0], saved[1]  # type: ignore
        if saved[2] is None:
            del torch.symeig  # type: ignore[attr-defined]
        else:
            torch.symeig = saved[2]  # type: ignore[attr-defined]


class _CopyT(torch.Tensor):
    """A tensor whose ``.T`` is a copy (see :func:`unaliased_transpose`)."""

    @property
    def T(self) -> torch.Tensor:  # noqa: N802
        return torch.Tensor(super().T.clone())


@contextlib.contextmanager
def unaliased_transpose(mod: types.ModuleType) -> Iterator[None]:
    """TE-NAS's ``calc_LR`` does ``res += res.T`` (meaning ``res + res.T``), which current torch
    rejects because the operands alias. Inside the reference module only, ``torch.matmul``
    returns a tensor whose ``.T`` is a copy, so the statement computes what it means."""
    real = torch.matmul
    shim = types.SimpleNamespace(**{k: getattr(torch, k) for k in dir(torch)
                                    if not k.startswith("__")})
    shim.matmul = lambda *a, **k: real(*a, **k).as_subclass(_CopyT)
    saved = mod.torch
    mod.torch = shim
    try:
        yield
    finally:
        mod.torch = saved


def stub_modules(names: list[str], **attrs: Any) -> None:
    for n in names:
        if n not in sys.modules:
            m = types.ModuleType(n)
            for k, v in attrs.items():
                setattr(m, k, v)
            sys.modules[n] = m


# -- references --------------------------------------------------------------------------------
def ref_gradsign(root: Path) -> Callable | None:
    base = root / "GradSign" / "zero-cost-nas-code"
    if not (base / "foresight" / "pruners" / "measures" / "grad_conflict.py").is_file():
        return None
    sys.path.insert(0, str(base))
    from foresight.pruners.measures.grad_conflict import get_grad_conflict  # type: ignore

    def run(net: torch.nn.Module, batch: ProbeBatch, seed: int) -> float:
        net.train()
        return float(get_grad_conflict(net, batch.x, batch.y, F.cross_entropy))

    return run


def ref_naswot(root: Path) -> Callable | None:
    base = root / "nas-without-training"
    script = base / "score_networks.py"
    if not script.is_file():
        return None
    scores = load_module("naswot_ref_scores", base / "scores.py")
    tree = ast.parse(script.read_text())
    wanted = {"counting_forward_hook", "counting_backward_hook", "get_batch_jacobian"}
    defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in wanted]
    code = compile(ast.Module(body=defs, type_ignores=[]), str(script), "exec")

    class TwoOutputs(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.net(x)
            return out, out

    def run(net: torch.nn.Module, batch: ProbeBatch, seed: int) -> float:
        network = TwoOutputs(net)
        ns: dict[str, Any] = {"torch": torch, "np": np, "network": network}
        exec(code, ns)
        network.K = np.zeros((len(batch), len(batch)))
        handles = []
        for _, module in network.named_modules():
            if "ReLU" in str(type(module)):
                handles.append(module.register_forward_hook(ns["counting_forward_hook"]))
                handles.append(module.register_backward_hook(ns["counting_backward_hook"]))
        network.train()
        x = batch.x.clone()
        x2 = torch.clone(x)
        ns["get_batch_jacobian"](network, x, batch.y, "cpu", None)
        network(x2)
        for h in handles:
            h.remove()
        return float(scores.hooklogdet(network.K, batch.y))

    return run


def ref_ntk(root: Path) -> Callable | None:
    path = root / "TENAS" / "lib" / "procedures" / "ntk.py"
    if not path.is_file():
        return None
    mod = load_module("tenas_ref_ntk", path)

    def run(net: torch.nn.Module, batch: ProbeBatch, seed: int) -> float:
        with cpu_shims():
            return float(mod.get_ntk_n([(batch.x, batch.y)], [net], recalbn=0, train_mode=True,
                                       num_batch=1)[0])

    return run


def ref_linear_regions(root: Path) -> Callable | None:
    path = root / "TENAS" / "lib" / "procedures" / "linear_region_counter.py"
    if not path.is_file():
        return None
    stub_modules(["torchvision", "torchvision.transforms", "torchvision.datasets"])
    sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]  # type: ignore
    sys.modules["torchvision"].datasets = sys.modules["torchvision.datasets"]  # type: ignore
    stub_modules(["datasets"], CUTOUT=None, Dataset2Class={}, ImageNet16=None)
    mod = load_module("tenas_ref_lrc", path)
    from nasx.proxies.tenas import _crops, thin_model

    def run(net: torch.nn.Module, batch: ProbeBatch, seed: int, space: Any = None) -> float:
        ctx = ctx_for(space, seed, batch.num_classes)
        thin, is_thin = thin_model(net, ctx, 1)
        inputs = _crops(batch.x, 3000, 3 if is_thin else None, 1 if is_thin else None,
                        ctx.generator)
        with cpu_shims(), unaliased_transpose(mod):
            lrc = mod.Linear_Region_Collector(models=[], input_size=(1000, 1, 3, 3),
                                              sample_batch=3, dataset="cifar10",
                                              data_path=None, seed=seed)
            lrc.reinit(models=[thin], seed=seed)
            thin.train()
            for start in range(0, 3000, 1000):
                lrc.forward(thin, lrc.LRCounts[0], inputs[start:start + 1000])
            return float(lrc.LRCounts[0].getLinearReginCount())

    return run


def ref_zen(root: Path) -> Callable | None:
    path = root / "ZenNAS" / "ZeroShotProxy" / "compute_zen_score.py"
    if not path.is_file():
        return None
    stub_modules(["global_utils", "ModelLoader"])
    mod = load_module("zennas_ref_zen", path)

    def pre_gap(self: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        return self.lastact(h)

    def run(net: torch.nn.Module, batch: ProbeBatch, seed: int) -> float:
        net.forward_pre_GAP = types.MethodType(pre_gap, net)
        net.train()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            info = mod.compute_nas_score(gpu=None, model=net, mixup_gamma=1e-2,
                                         resolution=batch.x.shape[-1], batch_size=16, repeat=1)
        return float(info["avg_nas_score"])

    return run


REFERENCES: dict[str, Callable[[Path], Callable | None]] = {
    "gradsign": ref_gradsign,
    "naswot": ref_naswot,
    "ntk": ref_ntk,
    "linear-regions": ref_linear_regions,
    "zen": ref_zen,
}


# -- modes -------------------------------------------------------------------------------------
def read_rows(data: Path) -> list[dict[str, str]]:
    with open(data / "nasbench201" / "accuracies.csv", newline="") as f:
        return list(csv.DictReader(f))


def pick_cells(data: Path, n: int, seed: int) -> list[tuple[int, str]]:
    """``n`` cells scored by NASLib on CIFAR-10 and by NASWOT v1 (so every comparison uses the
    same cells), drawn with ``seed``."""
    with open(data / "nasbench_suite_zero" / "zc_nasbench201.csv", newline="") as f:
        zc = [r for r in csv.DictReader(f) if r["dataset"] == "cifar10"]
    with open(data / "nasbench201" / "naswot_scores.csv", newline="") as f:
        v1 = {int(r["index"]): r["naswot_score"] for r in csv.DictReader(f)}
    pool = sorted({int(r["nb201_index"]) for r in zc if v1.get(int(r["nb201_index"]), "") != ""})
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False).tolist())
    rows = read_rows(data)
    return [(pool[i], rows[pool[i]]["arch"]) for i in chosen]


def batches(data: Path, space: Any, args: argparse.Namespace) -> dict[str, ProbeBatch]:
    ds = load_dataset(str(data / "cifar10" / "probe_train.npz"))
    size = space.input_shape[1]
    full = draw_batch(ds, args.batch_size, args.seed, input_size=size)
    return {
        "gradsign": draw_batch(ds, args.gradsign_batch, args.seed, input_size=size),
        "naswot": full,
        "ntk": draw_batch(ds, args.ntk_batch, args.seed, input_size=size),
        "linear-regions": full,
        "zen": full,
    }


def spearman(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(stats.spearmanr(x[ok], y[ok]).statistic)


def kendall(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(stats.kendalltau(x[ok], y[ok]).statistic)


def run_crosscheck(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data)
    space = NASBench201(C=args.C, N=args.N)
    cells = pick_cells(data, args.n, args.seed)
    probe = batches(data, space, args)
    variants: dict[str, tuple[str, dict[str, Any]]] = {p: (p, {}) for p in args.proxies}
    if "naswot" in args.proxies:
        variants["naswot[match=module]"] = ("naswot", {"match": "module"})
    refs: dict[str, Callable | None] = {}
    out: dict[str, Any] = {"mode": "crosscheck", "cells": [c for c, _ in cells],
                           "settings": vars(args).copy(), "proxies": {}}
    for p in args.proxies:
        try:
            refs[p] = REFERENCES[p](Path(args.ref_root))
        except Exception as exc:  # a reference that cannot be imported is skipped, loudly
            refs[p] = None
            print(f"[skip] {p}: reference failed to import ({type(exc).__name__}: {exc})")
        if refs[p] is None:
            print(f"[skip] {p}: reference not found under {args.ref_root}")
    vals: dict[str, dict[str, list[float]]] = {v: {"ours": [], "ref": [], "t_ours": [],
                                                   "t_ref": []} for v in variants}
    for k, (index, text) in enumerate(cells):
        arch = space.parse(text)
        torch.manual_seed(args.seed)
        net = space.build(arch, 10)
        initial = copy.deepcopy(net.state_dict())
        for vname, (pname, opts) in variants.items():
            if refs.get(pname) is None:
                continue
            batch = probe[pname]
            spec = get_proxy(pname)
            model = space.build(arch, 10)
            model.load_state_dict(initial)
            model.train()
            t0 = time.perf_counter()
            ours = spec.fn(model, batch, ctx_for(space, args.seed, 10),  # type: ignore[misc]
                           **{**dict(spec.options), **opts})
            t1 = time.perf_counter()
            vals[vname]["ours"].append(float(ours))
            vals[vname]["t_ours"].append(t1 - t0)
            if vname != pname:  # variants reuse the reference value of their proxy
                vals[vname]["ref"].append(vals[pname]["ref"][-1])
                vals[vname]["t_ref"].append(vals[pname]["t_ref"][-1])
                continue
            model = space.build(arch, 10)
            model.load_state_dict(initial)
            model.train()
            t0 = time.perf_counter()
            fn = refs[pname]
            assert fn is not None
            ref = fn(model, batch, args.seed, space) if pname == "linear-regions" \
                else fn(model, batch, args.seed)
            vals[vname]["ref"].append(float(ref))
            vals[vname]["t_ref"].append(time.perf_counter() - t0)
        print(f"[{k + 1}/{len(cells)}] cell {index}: " + ", ".join(
            f"{v}={vals[v]['ours'][-1]:.6g}/{vals[v]['ref'][-1]:.6g}"
            for v in variants if vals[v]["ours"]), flush=True)
    print(f"\n{'proxy':22s} {'n':>3s} {'spearman':>9s} {'kendall':>8s} {'max rel diff':>13s} "
          f"{'ours s':>8s} {'ref s':>8s}")
    for v, d in vals.items():
        if not d["ours"]:
            out["proxies"][v] = {"skipped": True}
            continue
        a, b = np.asarray(d["ours"]), np.asarray(d["ref"])
        ok = np.isfinite(a) & np.isfinite(b)
        rel = float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-12))) \
            if ok.any() else float("nan")
        res = {"n": len(a), "spearman": spearman(d["ours"], d["ref"]),
               "kendall": kendall(d["ours"], d["ref"]), "max_rel_diff": rel,
               "seconds_ours": float(np.mean(d["t_ours"])),
               "seconds_ref": float(np.mean(d["t_ref"])),
               "ours": d["ours"], "ref": d["ref"]}
        out["proxies"][v] = res
        print(f"{v:22s} {res['n']:3d} {res['spearman']:9.4f} {res['kendall']:8.4f} "
              f"{rel:13.3g} {res['seconds_ours']:8.3f} {res['seconds_ref']:8.3f}")
    return out


def run_truth(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data)
    space = NASBench201(C=args.C, N=args.N)
    cells = pick_cells(data, args.n, args.seed)
    probe = batches(data, space, args)
    rows = read_rows(data)
    acc = [float(rows[i]["cifar10_test"]) for i, _ in cells]
    dev = torch.device(args.device)
    probe = {k: b.to(dev) for k, b in probe.items()}
    values: dict[str, list[float]] = {p: [] for p in args.proxies}
    secs: dict[str, list[float]] = {p: [] for p in args.proxies}
    for k, (index, text) in enumerate(cells):
        arch = space.parse(text)
        for p in args.proxies:
            spec = get_proxy(p)
            torch.manual_seed(args.seed)
            model = space.build(arch, 10).to(dev)
            t0 = time.perf_counter()
            try:
                v = float(spec(model, probe[p], ctx_for(space, args.seed, 10, args.device)))
            except Exception as exc:  # recorded as a failure, as the scorer does
                print(f"  {p} failed on {index}: {type(exc).__name__}: {exc}")
                v = float("nan")
            secs[p].append(time.perf_counter() - t0)
            values[p].append(v if math.isfinite(v) else float("nan"))
        print(f"[{k + 1}/{len(cells)}] cell {index} acc {rows[index]['cifar10_test']}: "
              + ", ".join(f"{p}={values[p][-1]:.6g}" for p in args.proxies), flush=True)
    out: dict[str, Any] = {"mode": "truth", "cells": [c for c, _ in cells],
                           "settings": vars(args).copy(), "proxies": {}}
    print(f"\n{'proxy':16s} {'hib':>5s} {'kendall':>8s} {'spearman':>9s} {'failed':>6s} "
          f"{'sec':>7s}")
    table = dict(values)
    if {"ntk", "linear-regions"} <= set(values):
        table["te-nas"] = list(rank_sum({"ntk": np.asarray(values["ntk"]),
                                         "linear-regions": np.asarray(values["linear-regions"])}))
    for p, v in table.items():
        hib = get_proxy(p).higher_is_better
        m = rank_metrics(v, acc, hib)
        res = {"higher_is_better": hib, "kendall": m["kendall"], "spearman": m["spearman"],
               "failed": m["failed"], "values": v,
               "seconds": float(np.mean(secs[p])) if p in secs else None}
        out["proxies"][p] = res
        print(f"{p:16s} {str(hib):>5s} {m['kendall']:8.4f} {m['spearman']:9.4f} "
              f"{m['failed']:6d} {res['seconds'] or 0:7.3f}")
    if "naswot" in values:
        with open(data / "nasbench201" / "naswot_scores.csv", newline="") as f:
            v1 = {int(r["index"]): float(r["naswot_score"]) for r in csv.DictReader(f)
                  if r["naswot_score"] != ""}
        with open(data / "nasbench_suite_zero" / "zc_nasbench201.csv", newline="") as f:
            nw = {int(r["nb201_index"]): float(r["nwot"]) for r in csv.DictReader(f)
                  if r["dataset"] == "cifar10"}
        ours = values["naswot"]
        ref_v1 = [v1.get(i, float("nan")) for i, _ in cells]
        ref_nw = [nw.get(i, float("nan")) for i, _ in cells]
        out["naswot_vs_precomputed"] = {
            "spearman_vs_naswot_v1": spearman(ours, ref_v1),
            "spearman_vs_naslib_nwot": spearman(ours, ref_nw),
            "spearman_naswot_v1_vs_naslib_nwot": spearman(ref_v1, ref_nw),
            "kendall_acc_naswot_v1": kendall(ref_v1, acc),
            "kendall_acc_naslib_nwot": kendall(ref_nw, acc),
        }
        for k2, v in out["naswot_vs_precomputed"].items():
            print(f"{k2:36s} {v:.4f}")
    return out


def run_mode(args: argparse.Namespace, argv: list[str] | None, script: str,
             run_crosscheck: Callable[[argparse.Namespace], dict],
             run_truth: Callable[[argparse.Namespace], dict], **extra: Any) -> int:
    """The end every cross-check script shares: check the shared data, run ``args.mode``, add
    the torch version, threads, ``extra`` (a callable value is called after the run) and the
    command that reruns it, write ``args.out`` and print the command. Exit status 2 without
    the shared data."""
    data = Path(args.data)
    if not (data / "nasbench201" / "accuracies.csv").is_file():
        print(f"shared data not found under {data}; set --data or NASX_SHARED_DATA")
        return 2
    t0 = time.perf_counter()
    out = run_crosscheck(args) if args.mode == "crosscheck" else run_truth(args)
    out["seconds_total"] = time.perf_counter() - t0
    out["torch"] = torch.__version__
    out["threads"] = torch.get_num_threads()
    out.update({k: v() if callable(v) else v for k, v in extra.items()})
    cmd = (f"OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/{script} "
           + " ".join(a if " " not in a else repr(a) for a in (argv or sys.argv[1:])))
    out["command"] = cmd
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1, default=lambda o: None))
        print(f"wrote {args.out}")
    print(f"rerun: {cmd}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("crosscheck", "truth"), default="crosscheck")
    ap.add_argument("--ref-root", default="/tmp/refs",
                    help="folder with GradSign/, nas-without-training/, TENAS/, ZenNAS/")
    ap.add_argument("--data", default=str(default_data()))
    ap.add_argument("--n", type=int, default=30, help="number of NAS-Bench-201 cells")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--N", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128, help="naswot / linear-regions batch")
    ap.add_argument("--gradsign-batch", type=int, default=64)
    ap.add_argument("--ntk-batch", type=int, default=16)
    ap.add_argument("--proxies", default=",".join(PROXIES))
    ap.add_argument("--device", default="cpu", help="truth mode only: cpu or cuda")
    ap.add_argument("--out", default=None, help="JSON output path")
    args = ap.parse_args(argv)
    args.proxies = [p.strip() for p in args.proxies.split(",") if p.strip()]
    return run_mode(args, argv, "reference_crosscheck.py", run_crosscheck, run_truth,
                    device_name=lambda: (torch.cuda.get_device_name()
                                         if args.device.startswith("cuda") else "cpu"))


if __name__ == "__main__":
    raise SystemExit(main())
