"""Reproduce the NAS-Bench-201 columns of the GradAlign paper's Table 4 (Kendall tau) and
Table 5 (accuracy of the top-ranked cell) with nasx.

Li & Guo, "GradAlign for Training-free Model Performance Inference": Table 4 lists Kendall's tau
between each training-free proxy and the NAS-Bench-201 accuracy; Table 5 the accuracy of the
cell each proxy ranks first. This script scores the same seeded sample of NAS-Bench-201 cells
(default 1000) with every registered proxy of the paper plus the params / flops baselines,
through :func:`nasx.evaluate` (all proxies in one pass per cell, so they share the network's
initial weights, the probe batch and the per-sample gradients), and prints the paper's figure
beside ours.

Setting: NAS-Bench-201 network with C=16, N=5 (the benchmark's); ground truth
``shared/data/nasbench201/accuracies.csv`` (200-epoch, seed-averaged); accuracy column
``cifar10_test`` by default; probe batch of 128 CIFAR-10 training images, class-balanced, drawn
from ``shared/data/cifar10/probe_train.npz``; one weight initialisation per cell (seed = the
sample seed; ``--init-seeds K`` repeats with K). Only CIFAR-10 probe images exist here, so
``--acc-col cifar100_test`` / ``imagenet16_test`` rank cells *built for 10 classes and probed
with CIFAR-10 images* against the CIFAR-100 / ImageNet16-120 accuracies; the output says so.

Every score is written to the nasx store as soon as it is computed (``--store PATH``), so an
interrupted run resumes where it stopped when rerun with the same arguments.

Usage:
    python benchmarks/paper_tables.py --device cuda --n 1000 --seed 0 \\
        --store benchmarks/results/paper_tables.sqlite \\
        --out benchmarks/results/paper_tables_cifar10.json --plots benchmarks/results/plots
    python benchmarks/paper_tables.py --render-readme benchmarks/results/paper_tables_cifar10.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from common import shared_root  # noqa: E402  (puts this checkout first)

REPO = Path(__file__).resolve().parents[1]

#: (nasx proxy, paper's label, Table 4 tau per dataset, Table 5 top-1 accuracy per dataset);
#: datasets: cifar10, cifar100, imagenet16 (columns of the paper's tables)
PAPER: list[tuple[str, str, dict[str, float], dict[str, float]]] = [
    ("gradalign-i", "GradAlign-I", {"cifar10": 0.617, "cifar100": 0.633, "imagenet16": 0.623},
     {"cifar10": 90.223, "cifar100": 71.106, "imagenet16": 41.444}),
    ("gradalign-ii", "GradAlign-II", {"cifar10": 0.599, "cifar100": 0.622, "imagenet16": 0.607},
     {"cifar10": 90.223, "cifar100": 71.106, "imagenet16": 41.444}),
    ("gradsign", "GradSign", {"cifar10": 0.561, "cifar100": 0.595, "imagenet16": 0.596},
     {"cifar10": 90.223, "cifar100": 71.106, "imagenet16": 41.444}),
    ("naswot", "NASWOT", {"cifar10": 0.587, "cifar100": 0.621, "imagenet16": 0.594},
     {"cifar10": 85.937, "cifar100": 68.940, "imagenet16": 35.478}),
    ("te-nas", "TE-NAS", {"cifar10": 0.387, "cifar100": 0.377, "imagenet16": 0.345},
     {"cifar10": 10.000, "cifar100": 1.000, "imagenet16": 0.833}),
    ("fisher", "fisher", {"cifar10": 0.377, "cifar100": 0.404, "imagenet16": 0.367},
     {"cifar10": 85.12, "cifar100": 62.419, "imagenet16": 29.266}),
    ("grad-norm", "grad_norm", {"cifar10": 0.437, "cifar100": 0.464, "imagenet16": 0.427},
     {"cifar10": 85.120, "cifar100": 62.420, "imagenet16": 5.456}),
    ("grasp", "grasp", {"cifar10": 0.319, "cifar100": 0.379, "imagenet16": 0.411},
     {"cifar10": 84.890, "cifar100": 47.620, "imagenet16": 31.333}),
    ("jacob-cov", "jacob_cov", {"cifar10": 0.553, "cifar100": 0.549, "imagenet16": 0.554},
     {"cifar10": 87.030, "cifar100": 69.800, "imagenet16": 36.933}),
    ("snip", "snip", {"cifar10": 0.435, "cifar100": 0.466, "imagenet16": 0.432},
     {"cifar10": 85.120, "cifar100": 62.420, "imagenet16": 5.456}),
    ("synflow", "Synflow", {"cifar10": 0.540, "cifar100": 0.568, "imagenet16": 0.561},
     {"cifar10": 90.223, "cifar100": 71.106, "imagenet16": 41.444}),
    ("zen", "Zen-NAS", {"cifar10": 0.180, "cifar100": 0.188, "imagenet16": 0.310},
     {"cifar10": 86.960, "cifar100": 68.260, "imagenet16": 40.600}),
    ("params", "#params (baseline)", {}, {}),
    ("flops", "FLOPs (baseline)", {}, {}),
]

DATASET_OF_COLUMN = (("imagenet16", "imagenet16"), ("cifar100", "cifar100"),
                     ("cifar10", "cifar10"))
DATASET_LABEL = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
                 "imagenet16": "ImageNet16-120"}
PENDING = "pending"


def shared_data() -> Path:
    return shared_root()


def dataset_of(acc_col: str) -> str | None:
    for prefix, name in DATASET_OF_COLUMN:
        if acc_col.startswith(prefix):
            return name
    return None


def fnum(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.{digits}f}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    d = shared_data()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="cells sampled (seeded) [1000]")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of the sample, the probe batch and the initialisation [0]")
    ap.add_argument("--init-seeds", type=int, default=1,
                    help="weight initialisations per cell (mean ± std) [1]")
    ap.add_argument("--proxies", default=",".join(p[0] for p in PAPER),
                    help="comma-separated nasx proxy names [all of the paper + baselines]")
    ap.add_argument("--acc-col", default="cifar10_test",
                    help="accuracy column: cifar10_test, cifar100_test, imagenet16_test, ... "
                    "[cifar10_test]")
    ap.add_argument("--truth", default=str(d / "nasbench201" / "accuracies.csv"))
    ap.add_argument("--probe", default=str(d / "cifar10" / "probe_train.npz"),
                    help="probe images (.npz) [shared CIFAR-10 probe_train.npz]")
    ap.add_argument("--batch-size", type=int, default=128, help="probe batch [128]")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N [auto]")
    ap.add_argument("--chunk-size", type=int, default=None,
                    help="per-sample-gradient chunk (lower if out of memory)")
    ap.add_argument("--space-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="NAS-Bench-201 option (smoke runs only; the paper uses C=16, N=5)")
    ap.add_argument("--store", default=None, metavar="PATH",
                    help="SQLite score store: checkpoint / resume [the user nasx store]")
    ap.add_argument("--out", default=None, metavar="JSON", help="write the results here")
    ap.add_argument("--plots", default=None, metavar="DIR",
                    help="write gradalign-i / gradalign-ii score-vs-accuracy scatter plots")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads [1]")
    ap.add_argument("--render-readme", default=None, metavar="JSON",
                    help="print the markdown results table of a results JSON ('pending': "
                    "the table with every measured figure pending) and exit")
    return ap.parse_args(argv)


def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    import nasx
    from nasx import evaluate
    from nasx.scoring import resolve_device

    registered = set(nasx.list_proxies())
    asked = [p.strip() for p in args.proxies.split(",") if p.strip()]
    known = {p[0] for p in PAPER}
    proxies = [p for p in asked if p in registered]
    skipped = [{"proxy": p, "note": "not registered in this nasx installation"}
               for p in asked if p not in registered]
    if not proxies:
        raise SystemExit("none of the requested proxies is registered: "
                         + ", ".join(asked))
    space_opts = dict(kv.split("=", 1) for kv in args.space_opt)
    dataset = dataset_of(args.acc_col)
    note = None
    if dataset not in (None, "cifar10"):
        note = (f"{DATASET_LABEL[dataset]} accuracies ranked with CIFAR-10 probe images "
                "(10-class networks); the paper probed with the dataset's own images")
    dev = resolve_device(args.device)
    t0 = time.perf_counter()
    last = [0.0]

    def progress(ev: Any) -> None:
        now = time.perf_counter()
        if now - last[0] >= 30 or ev.done == ev.total:
            last[0] = now
            el = now - t0
            print(f"[{ev.done}/{ev.total}] {el:.0f}s elapsed", file=sys.stderr, flush=True)

    report = evaluate(
        "nasbench201", proxies, args.truth, arch_col="arch", acc_col=args.acc_col,
        sample=args.n, seed=args.seed, init_seeds=args.init_seeds, data=args.probe,
        batch_size=args.batch_size, device=str(dev), store=args.store,
        space_opts=space_opts, chunk_size=args.chunk_size, on_event=progress,
    )
    elapsed = time.perf_counter() - t0
    rows = []
    for name, label, taus, top1s in PAPER + [(p, p, {}, {}) for p in proxies
                                             if p not in known]:
        if name not in proxies:
            continue
        m = report.metrics[name]
        rows.append({
            "proxy": name, "paper_label": label,
            "paper_kendall": taus.get(dataset or ""), "paper_top1_acc": top1s.get(dataset or ""),
            **{k: m.get(k) for k in (
                "kendall", "kendall_std", "spearman", "pearson", "precision_top1",
                "precision_top5", "precision_top10", "top1_acc", "top1_acc_std", "top1_rank",
                "top1_ties", "best_acc", "failed", "seconds", "errors", "higher_is_better")},
        })
    if args.plots:
        from nasx.plot import plot_eval

        out_dir = Path(args.plots)
        out_dir.mkdir(parents=True, exist_ok=True)
        for p in ("gradalign-i", "gradalign-ii"):
            if p in proxies:
                name = f"{p}_{args.acc_col}_n{report.settings['sample']}_s{args.seed}.png"
                plot_eval(report, out_dir / name, proxies=[p])
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "nasx": nasx.__version__, "device": str(dev),
           "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else
           platform.processor() or platform.machine(), "threads": args.threads}
    return {
        "benchmark": "GradAlign paper Tables 4 and 5 (NAS-Bench-201)",
        "dataset": dataset, "acc_col": args.acc_col, "note": note,
        "smoke": args.n < 500 or bool(space_opts),
        "table": rows, "skipped": skipped,
        "settings": report.to_dict()["settings"], "env": env,
        "seconds": round(elapsed, 1),
        "command": "python benchmarks/paper_tables.py " + " ".join(shlex.quote(a) for a in argv),
    }


def print_table(res: dict[str, Any]) -> None:
    s = res["settings"]
    print(f"NAS-Bench-201, {s['sample']} cells (seed {s['seed']}) vs {res['acc_col']}; probe "
          f"{s['batch_size']} images of {s['data']} [{s['data_fingerprint'][:12]}]; "
          f"{s['init_seeds']} init seed(s); device {res['env']['device']}; "
          f"{res['seconds']} s")
    if res.get("note"):
        print("note:", res["note"])
    if res.get("smoke"):
        print("note: smoke configuration (n < 500 or non-default network): not comparable "
              "with the paper")
    head = (f"{'proxy':<14}{'tau paper':>10}{'tau ours':>16}{'top-1 paper':>12}"
            f"{'top-1 ours':>12}{'rank':>7}{'spearman':>10}{'failed':>8}{'s/cell':>9}")
    print(head)
    print("-" * len(head))
    for r in res["table"]:
        tau = fnum(r["kendall"])
        if r.get("kendall_std") is not None:
            tau += f"±{fnum(r['kendall_std'])}"
        print(f"{r['proxy']:<14}{fnum(r['paper_kendall']):>10}{tau:>16}"
              f"{fnum(r['paper_top1_acc'], 2):>12}{fnum(r['top1_acc'], 2):>12}"
              f"{fnum(r['top1_rank'], 0) if r['top1_rank'] is not None else '—':>7}"
              f"{fnum(r['spearman']):>10}{r['failed']:>8}{fnum(r['seconds'], 2):>9}")
    for sk in res["skipped"]:
        print(f"skipped {sk['proxy']}: {sk['note']}")
    print("rerun:", res["command"])


def render_readme(path: str) -> str:
    """The markdown results table of a results JSON (or all pending)."""
    res: dict[str, Any] = {}
    if path != PENDING:
        res = json.loads(Path(path).read_text(encoding="utf-8"))
    dataset = res.get("dataset") or "cifar10"
    measured = {r["proxy"]: r for r in res.get("table", [])}
    skipped = {s["proxy"]: s["note"] for s in res.get("skipped", [])}
    col = DATASET_LABEL.get(dataset, dataset)
    lines = []
    if res:
        s = res["settings"]
        lines.append(f"{s['sample']} NAS-Bench-201 cells (seed {s['seed']}), accuracy column "
                     f"`{res['acc_col']}`, probe batch {s['batch_size']} "
                     f"(`{s['data_fingerprint'][:12]}`), {s['init_seeds']} init seed(s), "
                     f"device {res['env']['device']} ({res['env']['device_name']}), "
                     f"{res['seconds']} s.")
        if res.get("note"):
            lines.append(f"Note: {res['note']}.")
        if res.get("smoke"):
            lines.append("**Smoke configuration: not comparable with the paper.**")
        lines.append("")
    lines.append(f"| proxy | paper τ ({col}) | nasx τ | paper top-1 acc | nasx top-1 acc "
                 "(rank in sample) | nasx Spearman | failed |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for name, label, taus, top1s in PAPER:
        pt, pa = fnum(taus.get(dataset)), fnum(top1s.get(dataset), 2)
        r = measured.get(name)
        if r is None:
            why = PENDING if name not in skipped else f"skipped ({skipped[name]})"
            lines.append(f"| {name} ({label}) | {pt} | {why} | {pa} | {why} | {why} | "
                         f"{why} |")
            continue
        tau = fnum(r["kendall"])
        if r.get("kendall_std") is not None:
            tau += f" ± {fnum(r['kendall_std'])}"
        rank = "—" if r.get("top1_rank") is None else f"{r['top1_rank']:.0f}"
        lines.append(f"| {name} ({label}) | {pt} | {tau} | {pa} | {fnum(r['top1_acc'], 2)} "
                     f"({rank}) | {fnum(r['spearman'])} | {r['failed']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.render_readme:
        print(render_readme(args.render_readme))
        return 0
    if args.n < 500:
        print(f"note: --n {args.n} < 500: a smoke run, not the paper's setting",
              file=sys.stderr)
    res = run(args, argv)
    print_table(res)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2, default=str) + "\n",
                                  encoding="utf-8")
        print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
