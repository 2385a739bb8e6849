"""Search a space for the architecture a proxy scores best.

Shows a progress bar and a live top-k table on stderr, then prints the best architecture in the
space's notation on stdout (or one JSON object with --json). A run is identified by its settings
(or --run NAME): running the same command again after a crash resumes it, and no score is
computed twice (scores live in the store).

Example:
  nasx search --space nasbench201 --proxy gradalign-i --strategy random --budget 50 \\
      --seed 0 --data probe.npz

With --truth FILE.csv --acc-col COL (a benchmark space's ground truth), the true accuracy of the
returned architecture and of the top list is reported beside the scores (and under "truth" in
--json), with the space's optimum.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from ..errors import BudgetError, ConfigError
from ..events import Evaluated, Event
from .common import (
    Renderer,
    add_common,
    check_output_path,
    dump_json,
    fmt,
    parse_kv,
    run_settings,
    store_arg,
)

HELP = "search a space with a proxy as fitness"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p, multi_proxy=False)
    g = p.add_argument_group("search options")
    g.add_argument("--strategy", default="random", help="search strategy (nasx list strategies)")
    g.add_argument("--strategy-opt", action="append", default=[], metavar="KEY=VALUE",
                   help=("strategy option, repeatable (e.g. population=20, "
                         "prune_number=3); `nasx list strategies` lists them"))
    g.add_argument("--budget", type=int, default=None,
                   help="number of evaluations (default 100 when no --time-budget; strategies "
                   "that end by themselves, such as pruning, run to convergence)")
    g.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="wall-clock budget in seconds")
    g.add_argument("--max-params", default=None, metavar="N",
                   help="skip architectures with more parameters (e.g. 1.5M, 800k); they are "
                   "not scored and are counted as infeasible")
    g.add_argument("--max-flops", default=None, metavar="N",
                   help="skip architectures with more operations per image (e.g. 300M), "
                   "counted as the flops proxy counts them (multiply-adds plus element ops)")
    g.add_argument("--max-latency-ms", default=None, metavar="MS",
                   help="skip architectures whose measured forward latency (batch 1, on the "
                   "scoring device; the latency proxy's measurement) exceeds MS milliseconds")
    g.add_argument("--pareto", default=None, metavar="COSTS",
                   help="also report the Pareto front of the evaluated architectures, fitness "
                   "against these costs: params, flops and/or latency, comma-separated")
    g.add_argument("--pareto-plot", default=None, metavar="FILE",
                   help="draw the front against the first --pareto cost (needs nasx[plot])")
    g.add_argument("--top-k", type=int, default=10, help="size of the top list [10]")
    g.add_argument("--export", default=None, metavar="PATH",
                   help="write the best network to PATH (.pt2 torch.export, or .onnx), as "
                   "`nasx export` does")
    g.add_argument("--run", default=None, metavar="NAME",
                   help="name of the run (to resume it); default: derived from the settings")
    r = p.add_argument_group("refine by training (see nasx train)")
    r.add_argument("--refine", type=int, default=None, metavar="K",
                   help="after the search, train the K best architectures with "
                   "--refine-protocol on --refine-data and return the best by held-out "
                   "accuracy (trained results are stored and reused)")
    r.add_argument("--refine-protocol", default="nb201", metavar="P",
                   help="training protocol of --refine: nb201, darts, quick or a YAML file "
                   "[nb201]")
    r.add_argument("--refine-data", default=None, metavar="SRC",
                   help="training data of --refine (cifar10, a CIFAR folder, .npz, an image "
                   "folder); required with --refine (--data is the probe batch)")
    r.add_argument("--refine-set", action="append", default=[], metavar="FIELD=VALUE",
                   help="protocol field override of --refine, repeatable (e.g. epochs=12)")
    t = p.add_argument_group("ground truth (benchmark spaces)")
    t.add_argument("--truth", default=None, metavar="FILE.csv",
                   help=("ground-truth CSV (an arch column and an accuracy column): report the "
                         "true accuracy of the returned architecture and of the top list "
                         "beside the scores, and the space's optimum"))
    t.add_argument("--arch-col", default="arch", help="architecture column of --truth [arch]")
    t.add_argument("--acc-col", default="accuracy",
                   help="accuracy column of --truth [accuracy]")


class SearchRenderer(Renderer):
    """The common renderer plus the search's own lines: infeasible count and the strategy's
    progress (population, pruning round) under the live top-k table."""

    def _table(self, top: Any, ev: Evaluated) -> Any:
        group = super()._table(top, ev)
        table = group.renderables[-1]
        extra = f"  infeasible {ev.n_infeasible}" if ev.n_infeasible else ""
        table.caption = (f"{table.caption}{extra}" + (f"\n{ev.detail}" if ev.detail else ""))
        return group

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, Evaluated) and self.live is None:
            if self.quiet or ev.status == "infeasible":
                return  # plain output: infeasible archs are counted, not listed one by one
            from rich.markup import escape  # arch notations may contain [...] (DARTS)

            text = f"best {fmt(ev.best_fitness)} {ev.best_arch or ''}"
            if ev.detail:
                text += f"  ({ev.detail})"
            self._plain(ev.n_evaluated, self.total, text)  # _plain escapes markup
            if ev.note:
                self.console.print(f"[yellow]failed[/] {escape(ev.arch)}: {escape(ev.note)}",
                                   highlight=False)
            return
        super().__call__(ev)


def run(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from ..api import SearchInterrupted
    from ..constraints import parse_quantity
    from ..engine.loop import default_budget

    budget = args.budget
    if budget is None and args.time_budget is None:
        budget = default_budget(args.strategy)
    if args.top_k < 1:
        raise BudgetError("--top-k must be at least 1")
    refine_opts = _refine_options(args)  # checked before anything is scored
    max_params = parse_quantity(args.max_params, "--max-params")
    max_flops = parse_quantity(args.max_flops, "--max-flops")
    max_latency_ms = parse_quantity(args.max_latency_ms, "--max-latency-ms")
    check_output_path(args.export, "--export")
    check_output_path(args.pareto_plot, "--pareto-plot")
    if args.pareto_plot:
        if not args.pareto:
            raise ConfigError("--pareto-plot needs --pareto COSTS")
        from ..plot import require_matplotlib

        require_matplotlib()
    truth_space, truth = _load_truth(args)  # read (and checked) before anything is scored

    interrupted, untold = False, 0
    with SearchRenderer(quiet=args.quiet, title=f"{args.proxy}") as render:
        try:
            result = _search(args, budget, max_params, max_flops, max_latency_ms, render)
        except SearchInterrupted as stop:
            result, interrupted, untold = stop.result, True, stop.untold
    report = None
    if truth is not None and (result.best is not None or result.top):
        from ..evaluation import truth_report

        report = truth_report(result, truth, space=truth_space, acc_col=args.acc_col)
        report = dataclasses.replace(report, truth=args.truth)
    if interrupted:
        # stdout gets the best so far (or JSON); the caller sees exit status 130
        if args.json:
            print(dump_json(_with_truth(result, report)))
        elif result.best is not None:
            print(str(result.best))
        more = (f" (and {untold} more architecture(s) scored and stored, not yet counted)"
                if untold else "")
        none = " (no architecture scored yet)" if result.best is None and not untold else ""
        print(f"nasx: interrupted after {result.evaluated} evaluations{more}{none}; every score "
              "computed is in the store: run the same command again to resume", file=sys.stderr)
        return 130
    refined = None
    if refine_opts is not None and result.best is not None:
        from ..training import refine

        with Renderer(quiet=args.quiet) as render_train:
            refined = refine(result, args.refine, args.refine_protocol, args.refine_data,
                             seed=args.seed, device=args.device, store=store_arg(args),
                             download=args.download, on_event=render_train, **refine_opts)
    if args.export and result.best is not None:
        from ..data import num_classes_of
        from ..deploy import export_result

        # with --refine, the network written is the refined pick
        chosen = result if refined is None else dataclasses.replace(
            result, best=refined.refined_best)
        export_result(chosen, args.export, num_classes=num_classes_of(args.data))
    if args.pareto_plot and result.pareto:
        from ..plot import plot_pareto

        plot_pareto(result.pareto, args.pareto_plot, cost=result_costs(args)[0],
                    front=result.pareto, title=f"{result.proxy} on {result.space}")
    if args.json:
        doc = _with_truth(result, report)
        if refined is not None:
            doc["refine"] = refined.to_dict()
        print(dump_json(doc))
        return 0
    if result.best is None:
        if result.evaluated and result.stopped_by in ("budget", "time"):
            why = f"the search stopped ({result.stopped_by}) before the strategy converged"
        elif result.infeasible and not result.evaluated:
            why = f"all {result.infeasible} architectures tried violate the constraints"
        else:
            why = "no architecture could be scored (all failed)"
        print(why, file=sys.stderr)
        return 1
    if not args.quiet:
        extra = f", {result.infeasible} infeasible" if result.infeasible else ""
        render.console.print(
            f"best of {result.evaluated} ({result.cached} cached, {result.failed} failed{extra}) "
            f"by {escape(result.proxy)} = {fmt(result.score)} in {result.seconds:.1f}s "
            + escape(f"[run {result.run_id}]"), highlight=False)
    if report is not None:
        _print_truth(render.console, report, args.quiet)
    if result.pareto and not args.quiet:
        costs = result_costs(args)
        render.console.print(f"Pareto front ({result.proxy} against {', '.join(costs)}): "
                             f"{len(result.pareto)} architecture(s)", highlight=False)
        for p in result.pareto:
            vals = "  ".join(f"{c} {fmt(p[c])}" for c in costs)
            render.console.print(escape(f"  {fmt(p['fitness'])}  {vals}  {p['arch']}"),
                                 highlight=False)
    if refined is not None:
        render.console.print(escape(
            f"zero-cost best: {refined.zero_cost_best} (score {fmt(refined.zero_cost_score)}); "
            f"best of the {args.refine} trained: {refined.refined_best} "
            f"({_acc(refined.refined_accuracy)} held-out accuracy)"), highlight=False)
        print(refined.refined_best)
        return 0
    print(str(result.best))
    return 0


def result_costs(args: argparse.Namespace) -> list[str]:
    """The costs of ``--pareto``, in order."""
    return [c.strip() for c in str(args.pareto or "").split(",") if c.strip()]


def _acc(v: float | None) -> str:
    return "no" if v is None else f"{v:.2f}"


def _refine_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The protocol overrides of ``--refine`` (None without it); its errors are raised here,
    before anything is scored."""
    if args.refine is None:
        if args.refine_data is not None or args.refine_set:
            raise ConfigError("--refine-data / --refine-set need --refine K")
        return None
    if args.refine < 1:
        raise ConfigError(f"--refine must be at least 1; got {args.refine}")
    if args.refine_data is None:
        raise ConfigError("--refine needs --refine-data (the training data; --data is the "
                          "probe batch of the zero-cost search)")
    from ..training import load_protocol, parse_overrides

    overrides = parse_overrides(args.refine_set)
    load_protocol(args.refine_protocol, overrides)  # unknown protocol or field: fail now
    args.top_k = max(args.top_k, args.refine)  # the K best must be in the top list
    return overrides


def _load_truth(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(space, {arch: accuracy})`` of ``--truth`` (``(None, None)`` without it); the file's
    errors (missing column, no rows, bad values) are raised here, before any scoring."""
    if args.truth is None:
        return None, None
    from ..api import make_space
    from ..evaluation import load_truth

    space = make_space(args.space, **parse_kv(args.space_opt, "--space-opt"))
    return space, load_truth(args.truth, space, args.arch_col, args.acc_col)


def _with_truth(result: Any, report: Any) -> dict[str, Any]:
    out = result.to_dict()
    if report is not None:
        out["truth"] = report.to_dict()
    return out


def _print_truth(console: Any, report: Any, quiet: bool) -> None:
    """The true accuracies on stderr: the returned architecture, the top list, the optimum."""
    from rich.markup import escape

    def acc(v: float | None) -> str:
        return "not in the file" if v is None else f"{v:.2f}"

    rank = "" if report.best_rank is None else \
        f" (rank {report.best_rank} of {report.n_truth})"
    console.print(escape(f"{report.acc_col} of the best: {acc(report.best_acc)}{rank}; "
                         f"best of the top {len(report.top)}: {acc(report.top_best_acc)}; "
                         f"space optimum {report.optimum:.2f}"), highlight=False)
    if quiet:
        return
    for i, (arch, score, a) in enumerate(report.top, 1):
        console.print(escape(f"  {i:>3}. {fmt(score)}  {acc(a):>8}  {arch}"), highlight=False)


def _search(args: argparse.Namespace, budget: int | None, max_params: Any, max_flops: Any,
            max_latency_ms: Any, render: Any) -> Any:
    from ..engine.session import Session

    with Session(run_settings(args, render)) as session:
        return session.search(
            args.space, args.proxy, args.strategy, budget, time_budget=args.time_budget,
            max_params=max_params, max_flops=max_flops, max_latency_ms=max_latency_ms,
            space_opts=parse_kv(args.space_opt, "--space-opt"),
            strategy_opts=parse_kv(args.strategy_opt, "--strategy-opt"), top_k=args.top_k,
            run=args.run, pareto=result_costs(args))
