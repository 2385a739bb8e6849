"""Score given architectures (in the space's notation) with one or more proxies.

Example:
  nasx score --space nasbench201 --proxy gradalign-i,gradalign-ii --data probe.npz \\
      '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'

Architectures may also be read from a file (one per line) with --file, or '-' for stdin.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError
from .common import (
    Renderer,
    add_common,
    dump_json,
    fmt,
    parse_kv,
    read_regular_file,
    run_settings,
    store_arg,
)

HELP = "score architectures with proxies"

#: a ``--file`` of architectures larger than this is refused unread (64 MiB: about half a
#: million DARTS genotypes)
MAX_ARCH_FILE_BYTES = 64 << 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("archs", nargs="*", metavar="ARCH", help="architectures in the space's notation")
    p.add_argument("--file", default=None, help="read architectures from a file, one per line "
                   "('-' = stdin)")
    add_common(p)


def _read_arch_file(name: str) -> list[str]:
    """Non-empty, non-comment lines of ``name`` ('-' = stdin), as UTF-8 text."""
    if name == "-":
        text = sys.stdin.read(MAX_ARCH_FILE_BYTES + 1)
        if len(text) > MAX_ARCH_FILE_BYTES:
            raise ConfigError(f"--file -: more than {MAX_ARCH_FILE_BYTES} characters on stdin")
        lines = text.splitlines()
    else:
        raw = read_regular_file(name, "--file", MAX_ARCH_FILE_BYTES)
        if b"\x00" in raw:
            raise ConfigError(f"--file {name}: a binary file, not text with one architecture "
                              "per line")
        try:
            lines = raw.decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise ConfigError(f"--file {name}: not UTF-8 text ({exc.reason} at byte "
                              f"{exc.start})") from None
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def run(args: argparse.Namespace) -> int:
    from ..engine.session import Session

    archs = list(args.archs)
    if args.file:
        archs += _read_arch_file(args.file)
    if not archs:
        raise ConfigError("no architecture given (pass ARCH arguments or --file)")
    with Renderer(quiet=args.quiet or len(archs) < 2) as render:
        settings = run_settings(args, render, store=store_arg(args)
                                if (args.store or args.no_store) else False)
        with Session(settings) as session:
            results = session.score(archs, args.space, args.proxy,
                                    space_opts=parse_kv(args.space_opt, "--space-opt"))
    if not isinstance(results, list):
        results = [results]
    if args.json:
        print(dump_json([
            {"arch": r.arch, "proxy": r.proxy, "score": r.to_dict()["value"],
             "status": r.status, "error": r.error, "seconds": round(r.seconds, 4),
             "cached": r.cached}
            for r in results
        ]))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table(show_edge=False)
    for c in ("architecture", "proxy", "score", "status", "seconds"):
        t.add_column(c, overflow="fold")
    for r in results:
        t.add_row(escape(r.arch), escape(r.proxy), fmt(r.value, 6),
                  r.status + (" (cached)" if r.cached else ""),
                  f"{r.seconds:.2f}")
    Console(soft_wrap=False).print(t)
    failures = [r for r in results if not r.ok]
    for r in failures:
        print(f"nasx: {r.proxy} failed on {r.arch}: {r.error}", file=sys.stderr)
    return 0
