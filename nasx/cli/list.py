"""List what is installed: proxies, spaces or strategies (plugins included).

Example:
  nasx list proxies 'grad*'
  nasx list spaces --json
  nasx list --plugins
"""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from .common import dump_json

HELP = "list installed proxies, spaces or strategies"

KINDS = ("proxies", "spaces", "strategies")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", nargs="?", choices=KINDS, help="what to list")
    p.add_argument("pattern", nargs="?", default=None, help="glob filter, e.g. 'grad*'")
    p.add_argument("--plugins", action="store_true", help="show every plugin and its status")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")


def _rows(kind: str, pattern: str | None) -> list[dict]:
    from .. import registry

    reg = {"proxies": registry.proxies, "spaces": registry.spaces,
           "strategies": registry.strategies}[kind]
    rows = []
    for name in reg.names(pattern):
        obj = reg.get(name)
        row = {"name": name, "source": reg.source(name)}
        if kind == "proxies":
            row["higher_is_better"] = obj.higher_is_better
            row["needs"] = sorted(obj.needs)
            row["population"] = obj.population
            row["paper"] = obj.paper
            row["description"] = obj.description
        else:
            row["description"] = ((obj.__doc__ or "").strip().splitlines() or [""])[0]
            row["options"] = {k: {"default": d, "help": h}
                              for k, (_, d, h) in getattr(obj, "options", {}).items()}
        rows.append(row)
    return rows


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from .. import registry

    console = Console()
    if args.plugins:
        status = registry.plugin_status()
        if args.json:
            print(dump_json([s.__dict__ for s in status]))
            return 0
        t = Table(title="plugins (entry points)", title_justify="left")
        for c in ("group", "name", "value", "distribution", "status"):
            t.add_column(c)
        for s in status:
            t.add_row(escape(s.group), escape(s.name), escape(s.value), escape(s.distribution),
                      "ok" if s.ok else f"[red]failed: {escape(str(s.error))}[/]")
        console.print(t)
        return 0
    if not args.kind:
        raise ConfigError("say what to list: proxies, spaces or strategies (or --plugins)")
    rows = _rows(args.kind, args.pattern)
    if args.json:
        print(dump_json(rows))
        return 0
    t = Table(title=args.kind, title_justify="left")
    t.add_column("name", style="bold")
    t.add_column("from")
    if args.kind == "proxies":
        t.add_column("orientation")
        t.add_column("needs")
        t.add_column("paper", overflow="fold")
        for r in rows:
            t.add_row(escape(r["name"]), escape(r["source"]),
                      ("higher better" if r["higher_is_better"] else "lower better")
                      + (" (population)" if r["population"] else ""),
                      escape(", ".join(r["needs"])), escape(str(r["paper"])))
    else:
        t.add_column("options", overflow="fold")
        t.add_column("description", overflow="fold")
        for r in rows:
            opts = ", ".join(f"{k}={v['default']}" for k, v in r["options"].items())
            t.add_row(escape(r["name"]), escape(r["source"]), escape(opts),
                      escape(r["description"]))
    console.print(t)
    if not rows:
        console.print(escape(f"no {args.kind} match {args.pattern!r}"))
    return 0
