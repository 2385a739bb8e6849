"""The ``nasx`` command: ``search``, ``score``, ``eval``, ``train``, ``list``, ``calibrate`` and
``export``.

Results go to stdout (a table, or JSON with ``--json``); progress, warnings and errors go to
stderr. Exit status: 0 success, 2 bad input (unknown name, bad option, missing data), 1 an
unexpected error or results that could not be written (stdout closed, disk full), 130
interrupted, 141 (quietly) when the reader of stdout went away (``| head``).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings
from collections.abc import Sequence

from ..errors import NasxError
from . import calibrate as calibrate_cmd
from . import eval as eval_cmd
from . import export as export_cmd
from . import list as list_cmd
from . import score as score_cmd
from . import search as search_cmd
from . import train as train_cmd
from .common import load_config

__all__ = ["main", "build_parser"]

COMMANDS = {
    "search": search_cmd,
    "score": score_cmd,
    "eval": eval_cmd,
    "train": train_cmd,
    "list": list_cmd,
    "calibrate": calibrate_cmd,
    "export": export_cmd,
}


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(
        prog="nasx",
        description="Zero-cost neural architecture search: score untrained networks with "
        "training-free proxies and search cell spaces with them.",
        epilog="Examples:\n"
        "  nasx search --space nasbench201 --proxy gradalign-i --budget 50 --data probe.npz\n"
        "  nasx score --space nasbench201 --proxy gradalign-i,gradalign-ii '|...|'\n"
        "  nasx eval --space nasbench201 --proxy gradalign-i --truth accuracies.csv "
        "--acc-col cifar10_test\n"
        "  nasx list proxies 'grad*'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"nasx {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in COMMANDS.items():
        sp = sub.add_parser(name, help=mod.HELP, description=mod.__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run, _parser=sp)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    if sys.stdout is None:  # started with stdout closed (>&-): every result would be lost
        print("nasx: error: standard output is closed; redirect it instead (e.g. > out.txt)",
              file=sys.stderr)
        return 1
    try:
        code = _main(argv)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not after exit
        return code
    except BrokenPipeError:  # the reader (e.g. `| head`) has what it wanted: quiet, as cat
        _drop_stdout()
        return 141
    except OSError as exc:
        if exc.errno not in _WRITE_ERRORS:
            raise
        _drop_stdout()
        print(f"nasx: error: cannot write the results: {exc.strerror or exc}", file=sys.stderr)
        return 1


#: errors of writing the output (stdout, --csv) that end a command with exit status 1
_WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF}


def _drop_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's own flush at exit does not fail
    again (and print a traceback) on what could not be written."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):  # not a real file (tests capture stdout)
        pass


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        if argv and argv[0] in COMMANDS:
            sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            load_config(sub.choices[argv[0]], argv[1:])
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help(sys.stderr)
            return 2
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return int(args._run(args) or 0)
    except NasxError as exc:
        print(f"nasx: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nasx: interrupted (scores computed so far are in the store; run the same "
              "command again to resume)", file=sys.stderr)
        return 130


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"nasx: warning: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
