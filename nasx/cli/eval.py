"""Rank correlation of proxies against ground truth: how well does a proxy rank architectures?

Samples architectures from a CSV (an arch column in the space's notation and an accuracy
column), scores them with every proxy on one probe batch (all proxies together per architecture,
so shared work such as per-sample gradients is done once), and prints per proxy Kendall tau,
Spearman rho, Pearson r, precision of the top-k% (k = 1, 5, 10), the accuracy of the top-ranked
architecture and its rank among the sampled, the mean scoring time and the number of failures.
Failed scores rank last. With --init-seeds K every metric is the mean ± std over K weight
initialisations. Scores go to the store as they are computed: rerun the same command to resume.

Example:
  nasx eval --space nasbench201 --proxy gradalign-i,gradalign-ii --truth accuracies.csv \\
      --arch-col arch --acc-col cifar10_test --sample 1000 --seed 0 --data probe_train.npz \\
      --csv scores.csv --plot scatter.png
"""

from __future__ import annotations

import argparse

from ..context import DEFAULT_SAMPLE
from ..errors import ConfigError
from .common import (
    Renderer,
    add_common,
    check_output_path,
    dump_json,
    fmt,
    parse_kv,
    run_settings,
)

HELP = "rank correlation of proxies against ground-truth accuracies"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p)
    g = p.add_argument_group("evaluation options")
    g.add_argument("--truth", required=False, default=None, metavar="FILE.csv",
                   help="ground-truth CSV with an arch column and an accuracy column")
    g.add_argument("--arch-col", default="arch", help="architecture column [arch]")
    g.add_argument("--acc-col", default="accuracy", help="accuracy column [accuracy]")
    g.add_argument("--sample", type=int, default=None,
                   help="architectures sampled from the file (seeded by --seed) "
                   f"[{DEFAULT_SAMPLE}]")
    g.add_argument("--all", action="store_true", help="use every architecture of the file")
    g.add_argument("--init-seeds", type=int, default=1,
                   help="repeat with K weight initialisations (seeds --seed .. --seed+K-1); "
                   "report mean and std [1]")
    g.add_argument("--csv", default=None, metavar="FILE",
                   help="write every (arch, proxy, score, accuracy, init_seed) row to a CSV")
    g.add_argument("--plot", default=None, metavar="FILE.png",
                   help="score-vs-accuracy scatter per proxy, Kendall tau in each title "
                   "(needs matplotlib: pip install 'nasx[plot]')")


def _refuse_overwriting_inputs(args: argparse.Namespace) -> None:
    """ConfigError when ``--csv`` or ``--plot`` names the same file as an input (the store, the
    truth file, the config file or a data file): writing it would destroy that input."""
    from pathlib import Path

    from ..store import default_store_path

    store = None if args.no_store else (args.store or default_store_path())
    inputs = {"--store": store, "--truth": args.truth, "--config": args.config,
              "--data": args.data}
    for flag in ("--csv", "--plot"):
        out = getattr(args, flag[2:])
        if not out:
            continue
        o = Path(out).expanduser()
        for name, given in inputs.items():
            if not given or str(given) == ":memory:":
                continue
            i = Path(str(given)).expanduser()
            same = (o.samefile(i) if o.exists() and i.exists()
                    else o.resolve() == i.resolve())
            if same:
                raise ConfigError(f"{flag} {out} is the {name} input; writing it would destroy "
                                  f"that file: give {flag} another path")


def run(args: argparse.Namespace) -> int:
    from ..engine.session import Session

    if not args.truth:
        raise ConfigError("--truth FILE.csv is required")
    if args.all and args.sample is not None:
        raise ConfigError("give either --sample N or --all, not both")
    # fail before the (long) scoring when an output cannot be written or would replace an input
    check_output_path(args.csv, "--csv")
    check_output_path(args.plot, "--plot")
    _refuse_overwriting_inputs(args)
    if args.plot:  # fail before the (long) scoring when matplotlib is missing
        from ..plot import require_matplotlib

        require_matplotlib()
    with Renderer(quiet=args.quiet) as render:
        with Session(run_settings(args, render)) as session:
            report = session.evaluate(
                args.space, args.proxy, args.truth, arch_col=args.arch_col,
                acc_col=args.acc_col,
                sample=(None if args.all else
                        DEFAULT_SAMPLE if args.sample is None else args.sample),
                init_seeds=args.init_seeds,
                space_opts=parse_kv(args.space_opt, "--space-opt"))
    if args.csv:
        report.write_csv(args.csv)
    if args.plot:
        from ..plot import plot_eval

        plot_eval(report, args.plot)
    if args.json:
        print(dump_json(report.to_dict()))
        return 0
    _print_table(report)
    return 0


def _print_table(report) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    s = report.settings
    t = Table(title=escape(f"{s['space']}: {s['sample']} of {s['truth_archs']} archs vs "
              f"{s['acc_col']} (batch {s['batch_size']} of {s['data']} "
              f"[{s['data_fingerprint'][:8]}], seed {s['seed']}, {s['init_seeds']} init "
              f"seed(s), {s['device']})"), title_justify="left")
    for c in ("proxy", "kendall", "spearman", "pearson", "top1%", "top5%", "top10%",
              "top-1 acc", "its rank", "s/arch", "failed"):
        if c == "proxy":
            t.add_column(c, justify="left", no_wrap=True)
        else:
            t.add_column(c, justify="right")
    notes = []
    for name, m in report.metrics.items():
        def pm(k: str, digits: int = 3, m: dict = m) -> str:
            v = fmt(m.get(k), digits)
            if k + "_std" in m:
                v += f" ± {fmt(m[k + '_std'], digits)}"
            return v

        rank = pm("top1_rank", 1) if "top1_rank_std" in m else str(m.get("top1_rank", "—"))
        if rank == "nan":
            rank = "—"
        label = escape(name) + ("" if m.get("higher_is_better", True) else " (↓)")
        t.add_row(label, pm("kendall"), pm("spearman"), pm("pearson"), pm("precision_top1"),
                  pm("precision_top5"), pm("precision_top10"), pm("top1_acc", 2), rank,
                  fmt(m.get("seconds"), 3), str(m.get("failed", 0)))
        for e in m.get("errors", ()):
            notes.append(f"{name}: {e}")
    t.caption = (f"best accuracy in the sample: "
                 f"{fmt(next(iter(report.metrics.values())).get('best_acc'), 2)}; "
                 "(↓) = lower raw score is better (metrics use the oriented score)")
    console = Console()
    if not console.is_terminal:  # piped to a file: do not squeeze the table into 80 columns
        console = Console(width=160)
    console.print(t)
    if notes:
        err = Console(stderr=True)
        for n in notes:
            err.print(f"[yellow]failure[/] {escape(n)}", highlight=False)

