"""Rank correlation of proxies against ground truth.

Samples architectures from a CSV (an arch column in the space's notation and an accuracy
column), scores them with each proxy on one probe batch, and prints Kendall tau, Spearman rho,
Pearson r, precision of the top-k%, the accuracy of the top-ranked architecture (and its rank),
and the number of failures.

Example:
  nasx eval --space nasbench201 --proxy gradalign-i,gradalign-ii --truth accuracies.csv \\
      --arch-col arch --acc-col cifar10_test --sample 300 --seed 0 --data probe.npz
"""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .common import Renderer, add_common, dump_json, fmt, parse_kv, store_arg

HELP = "rank correlation of proxies against ground-truth accuracies"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p)
    g = p.add_argument_group("evaluation options")
    g.add_argument("--truth", required=False, default=None, metavar="FILE.csv",
                   help="ground-truth CSV with an arch column and an accuracy column")
    g.add_argument("--arch-col", default="arch", help="architecture column [arch]")
    g.add_argument("--acc-col", default="accuracy", help="accuracy column [accuracy]")
    g.add_argument("--sample", type=int, default=300,
                   help="architectures sampled from the file (seeded) [300]")
    g.add_argument("--all", action="store_true", help="use every architecture of the file")
    g.add_argument("--init-seeds", type=int, default=1,
                   help="repeat with K weight initialisations; report mean and std [1]")
    g.add_argument("--csv", default=None, metavar="FILE",
                   help="write every (arch, proxy, score, accuracy, seed) row to a CSV")
    g.add_argument("--plot", default=None, metavar="FILE.png",
                   help="score-vs-accuracy scatter per proxy (needs nasx[plot])")


def run(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate

    if not args.truth:
        raise ConfigError("--truth FILE.csv is required")
    with Renderer(quiet=args.quiet) as render:
        report = evaluate(
            args.space,
            args.proxy,
            args.truth,
            arch_col=args.arch_col,
            acc_col=args.acc_col,
            sample=None if args.all else args.sample,
            seed=args.seed,
            init_seeds=args.init_seeds,
            data=args.data,
            batch_size=args.batch_size,
            data_seed=args.data_seed,
            device=args.device,
            store=store_arg(args),
            space_opts=parse_kv(args.space_opt, "--space-opt"),
            executor=args.executor,
            chunk_size=args.chunk_size,
            download=args.download,
            on_event=render,
        )
    if args.csv:
        report.write_csv(args.csv)
    if args.plot:
        from ..plot import plot_eval

        plot_eval(report, args.plot)
    if args.json:
        print(dump_json(report.to_dict()))
        return 0
    from rich.console import Console
    from rich.table import Table

    s = report.settings
    t = Table(title=f"{s['space']}: {s['sample']} archs vs {s['acc_col']} "
              f"(batch {s['batch_size']} of {s['data']}, seed {s['seed']}, "
              f"{s['init_seeds']} init seed(s))", title_justify="left")
    for c in ("proxy", "kendall", "spearman", "pearson", "top1%", "top5%", "top10%",
              "top-1 acc", "its rank", "failed"):
        t.add_column(c, justify="right" if c != "proxy" else "left")
    for name, m in report.metrics.items():
        def pm(k: str) -> str:
            v = fmt(m.get(k), 3)
            if k + "_std" in m:
                v += f" ± {fmt(m[k + '_std'], 3)}"
            return v

        t.add_row(name, pm("kendall"), pm("spearman"), pm("pearson"), pm("precision_top1"),
                  pm("precision_top5"), pm("precision_top10"), pm("top1_acc"),
                  str(m.get("top1_rank", "—")) if "top1_rank_std" not in m else pm("top1_rank"),
                  str(m.get("failed", 0)))
    Console().print(t)
    return 0
