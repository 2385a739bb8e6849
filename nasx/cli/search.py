"""Search a space for the architecture a proxy scores best.

Shows a progress bar and a live top-k table on stderr, then prints the best architecture in the
space's notation on stdout (or one JSON object with --json). A run is identified by its settings
(or --run NAME): running the same command again after a crash resumes it, and no score is
computed twice (scores live in the store).

Example:
  nasx search --space nasbench201 --proxy gradalign-i --strategy random --budget 50 \\
      --seed 0 --data probe.npz
"""

from __future__ import annotations

import argparse
import sys

from ..errors import BudgetError
from .common import Renderer, add_common, dump_json, fmt, parse_kv, store_arg

HELP = "search a space with a proxy as fitness"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p, multi_proxy=False)
    g = p.add_argument_group("search options")
    g.add_argument("--strategy", default="random", help="search strategy (nasx list strategies)")
    g.add_argument("--strategy-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="strategy option, repeatable (e.g. population=20)")
    g.add_argument("--budget", type=int, default=None,
                   help="number of evaluations (default 100 when no --time-budget)")
    g.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="wall-clock budget in seconds")
    g.add_argument("--top-k", type=int, default=10, help="size of the top list [10]")
    g.add_argument("--run", default=None, metavar="NAME",
                   help="name of the run (to resume it); default: derived from the settings")


def run(args: argparse.Namespace) -> int:
    from ..api import search

    budget = args.budget
    if budget is None and args.time_budget is None:
        budget = 100
    if args.top_k < 1:
        raise BudgetError("--top-k must be at least 1")
    with Renderer(quiet=args.quiet, title=f"{args.proxy}") as render:
        result = search(
            space=args.space,
            proxy=args.proxy,
            strategy=args.strategy,
            budget=budget,
            time_budget=args.time_budget,
            data=args.data,
            batch_size=args.batch_size,
            seed=args.seed,
            data_seed=args.data_seed,
            device=args.device,
            store=store_arg(args),
            space_opts=parse_kv(args.space_opt, "--space-opt"),
            strategy_opts=parse_kv(args.strategy_opt, "--strategy-opt"),
            executor=args.executor,
            top_k=args.top_k,
            run=args.run,
            chunk_size=args.chunk_size,
            download=args.download,
            on_event=render,
        )
    if args.json:
        print(dump_json(result.to_dict()))
        return 0
    if result.best is None:
        print("no architecture could be scored (all failed)", file=sys.stderr)
        return 1
    if not args.quiet:
        render.console.print(
            f"best of {result.evaluated} ({result.cached} cached, {result.failed} failed) "
            f"by {result.proxy} = {fmt(result.score)} in {result.seconds:.1f}s "
            f"[run {result.run_id}]", highlight=False)
    print(str(result.best))
    return 0
