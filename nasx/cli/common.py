"""Flags shared by every command, YAML configs, and the rich rendering of events (stderr)."""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.markup import escape

from ..errors import ConfigError
from ..events import Evaluated, Event, Notice, Progress, RunFinished, RunStarted
from ..records import json_clean

if TYPE_CHECKING:
    from ..settings import RunSettings

__all__ = ["add_common", "parse_kv", "load_config", "Renderer", "dump_json", "store_arg",
           "executor_opts", "check_output_path", "run_settings",
           "read_regular_file", "MAX_CONFIG_BYTES", "MAX_CONFIG_ALIASES"]


def add_common(p: argparse.ArgumentParser, *, proxy_default: str | None = "gradalign-i",
               multi_proxy: bool = True) -> None:
    """The flags every scoring command shares."""
    g = p.add_argument_group("common options")
    g.add_argument("--space", default="nasbench201",
                   help="search space: a name (nasx list spaces), or a define-by-run function as "
                   "package.module:function or path/to/file.py:function")
    g.add_argument("--space-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="space option, repeatable (e.g. C=16)")
    g.add_argument("--proxy", default=proxy_default,
                   help="proxy name" + (" or comma-separated list" if multi_proxy else "")
                   + " (nasx list proxies)")
    g.add_argument("--data", default=None,
                   help="probe data: .npz (x uint8 NHWC, y), CIFAR python folder/archive, image "
                   "folder, cifar10 / cifar100 (full dataset from the cache, see --download), "
                   "cifar10-probe (500 CIFAR-10 images shipped with nasx), synthetic (smoke "
                   "runs only), or shape / shape:CLASSES (no images, data-free proxies only) "
                   "[cifar10-probe; nothing is loaded when no proxy needs images]")
    g.add_argument("--download", action="store_true",
                   help="download cifar10/cifar100 into the cache if absent (checksum verified)")
    g.add_argument("--batch-size", type=int, default=128,
                   help="probe batch size, class-balanced [128]")
    g.add_argument("--seed", type=int, default=0,
                   help="seed of sampling and initialisation, >= 0 [0]")
    g.add_argument("--data-seed", type=int, default=None,
                   help="seed of the probe-batch draw, >= 0 [same as --seed]")
    g.add_argument("--device", default="auto",
                   help="auto, cpu, cuda, cuda:N or mps (when available) [auto]")
    g.add_argument("--chunk-size", type=int, default=None,
                   help="samples per per-sample-gradient call, >= 1 (lower on small GPUs); "
                   "grad-norm, snip, fisher, grasp and jacob-cov run the batch in chunks of this "
                   "size, which changes their values (recorded with each score) [whole batch]")
    g.add_argument("--store", default=None, metavar="PATH",
                   help="SQLite score store [user cache folder]")
    g.add_argument("--no-store", action="store_true", help="do not read or write a store")
    g.add_argument("--grad-method", default="auto", choices=("auto", "capture", "vmap"),
                   help="per-sample-gradient route of gradalign-*/gradsign: capture (one batched "
                   "pass with per-layer capture), vmap (torch.func) or auto (capture where the "
                   "network allows it); the same values up to float rounding [auto]")
    g.add_argument("--keep-failures", action="store_true",
                   help="reuse failed scores found in the store instead of retrying them "
                   "(an out-of-memory failure is retried anyway on another device)")
    g.add_argument("--executor", default="sequential",
                   help="sequential, process (K worker processes per GPU or CPU slot) or ray "
                   "(Ray tasks on a cluster) [sequential]")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="process: GPUs to use [all] or CPU slots [half the cores]; ray: most "
                   "tasks in flight [cluster CPUs, or GPUs x K]; a local Ray instance gets N CPUs")
    g.add_argument("--workers-per-device", type=int, default=None, metavar="K",
                   help="process/ray: K workers share each device (Ray: num_gpus=1/K) so small "
                   "cells fill a large GPU; scores do not depend on K [1 on CPU; on a GPU one "
                   "per 6 GiB free, at most 8]")
    g.add_argument("--archs-per-task", type=int, default=None, metavar="M",
                   help="process/ray: architectures per task [about two tasks per worker, at "
                   "most 8]")
    g.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="ray: auto (the cluster this machine joined), ray://HOST:PORT (Ray "
                   "client) or HOST:PORT of a head node [a local instance]")
    g.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    g.add_argument("--config", default=None, metavar="FILE.yaml",
                   help="YAML file whose keys are any of these flags")


def parse_kv(items: Sequence[str] | dict[str, Any] | None, what: str) -> dict[str, Any]:
    """``["C=16", "N=5"]`` -> ``{"C": "16", "N": "5"}`` (values converted by the component)."""
    if not items:
        return {}
    if isinstance(items, dict):
        return dict(items)
    out: dict[str, Any] = {}
    for it in items:
        if "=" not in it:
            raise ConfigError(f"{what} {it!r} must be KEY=VALUE")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


#: a ``--config`` file larger than this is refused unread (a config is a few lines)
MAX_CONFIG_BYTES = 1 << 20
#: YAML aliases (``*name``) a config may use; more is refused before anything is expanded
MAX_CONFIG_ALIASES = 32


def read_regular_file(path: str | Path, what: str, limit: int) -> bytes:
    """The bytes of ``path``, refused unless it is a regular file of at most ``limit`` bytes
    (a FIFO, a device such as ``/dev/zero``, a socket or a folder is never read: the file is
    opened without blocking and checked with ``fstat`` before a byte is read)."""
    p = Path(path).expanduser()
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ConfigError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path}: is a folder, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read it ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"{what} {path}: is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{what} {path}: not a regular file (a pipe, device or socket); "
                              "give the path of a file")
        if st.st_size > limit:
            raise ConfigError(f"{what} {path}: {st.st_size} bytes, more than the "
                              f"{limit} allowed")
        chunks, size = [], 0
        while size <= limit:
            try:
                chunk = os.read(fd, min(1 << 16, limit + 1 - size))
            except OSError as exc:
                raise ConfigError(f"{what} {path}: cannot read it ({exc.strerror})") from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ConfigError(f"{what} {path}: more than the {limit} bytes allowed")
        return b"".join(chunks)
    finally:
        os.close(fd)


class _ConfigLoader(yaml.SafeLoader):
    """A safe loader that refuses configs with many aliases ("billion laughs") while the
    document is composed, before any alias is expanded."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_CONFIG_ALIASES:
                raise ConfigError(f"more than {MAX_CONFIG_ALIASES} YAML aliases (*name); "
                                  "write the values out")
        return super().compose_node(parent, index)


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool)) or value is None \
        else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _config_value(action: argparse.Action, key: str, value: Any, where: str) -> Any:
    """``value`` of config key ``key`` checked against its flag's action (and converted as the
    command line converts text); a ConfigError naming the key otherwise."""
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}: {key} must be {expected}; got {_short(value)}")

    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(action, argparse._AppendAction) or action.nargs in ("*", "+"):
        if value is None:
            return []
        if isinstance(value, dict):  # KEY=VALUE flags: a mapping of options
            if not isinstance(action, argparse._AppendAction):
                raise bad("a list")
            items = []
            for k, v in value.items():
                if not _scalar(k) or not (_scalar(v) or isinstance(v, bool)):
                    raise bad("a mapping of names to plain values")
                items.append(f"{k}={v}")
            return items
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(_scalar(v) for v in value):
            raise bad("a list of plain values")
        return [_convert(action, key, v, where) for v in value]
    if value is None:
        return None
    if isinstance(value, list) and action.dest == "proxy":
        if not value or not all(isinstance(v, str) for v in value):
            raise bad("a proxy name or a list of proxy names")
        value = ",".join(value)
    if not _scalar(value):
        raise bad({int: "a whole number", float: "a number"}.get(action.type,
                                                                 "a single value (text)"))
    return _convert(action, key, value, where)


def _convert(action: argparse.Action, key: str, value: Any, where: str) -> Any:
    typ = action.type
    if typ is int:
        try:
            if isinstance(value, float):
                raise ValueError(value)
            value = int(value)
        except ValueError:
            raise ConfigError(f"{where}: {key} must be a whole number; got {_short(value)}") \
                from None
    elif typ is float:
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{where}: {key} must be a number; got {_short(value)}") from None
    elif typ is not None:
        try:
            value = typ(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {key}={_short(value)} is invalid") from None
    elif not isinstance(value, str):
        value = str(value)
    if action.choices is not None and value not in action.choices:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(map(str, action.choices))}; "
                          f"got {_short(value)}")
    return value


def load_config(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Apply ``--config FILE.yaml`` as parser defaults (command-line flags still win).

    Every value is checked against its flag as the command line would check it: true/false
    flags take YAML booleans only, whole-number flags whole numbers only (no booleans, no
    fractions), one-value flags a single value (a list only for ``proxy``), KEY=VALUE flags a
    mapping or a list of ``KEY=VALUE`` texts. The file must be a regular file of at most
    :data:`MAX_CONFIG_BYTES` with at most :data:`MAX_CONFIG_ALIASES` YAML aliases.
    """
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    if not known.config:
        return
    path = Path(known.config).expanduser()
    raw = read_regular_file(path, "config", MAX_CONFIG_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path} is not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start})") from None
    try:
        cfg = yaml.load(text, Loader=_ConfigLoader) or {}  # a SafeLoader that counts aliases
    except ConfigError as exc:
        raise ConfigError(f"config {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: "
                          f"{' '.join(str(exc).split())}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"config {path} must be a mapping of flag names to values")
    dests = {a.dest: a for a in parser._actions}
    defaults: dict[str, Any] = {}
    for key, value in cfg.items():
        dest = str(key).lstrip("-").replace("-", "_")
        if dest not in dests or dest in ("help", "config", "version"):
            known_keys = sorted(d.replace("_", "-") for d in dests
                                if d not in ("help", "config", "version"))
            raise ConfigError(f"config {path}: unknown key {_short(key)}; known: "
                              f"{', '.join(known_keys)}")
        defaults[dest] = _config_value(dests[dest], str(key), value, f"config {path}")
    parser.set_defaults(**defaults)


def executor_opts(args: argparse.Namespace) -> dict[str, Any]:
    """The executor options given on the command line (checked against ``--executor``)."""
    name = str(args.executor or "sequential").lower()
    opts = {"workers": args.workers, "workers_per_device": args.workers_per_device,
            "archs_per_task": args.archs_per_task}
    for flag, value in (("--workers", args.workers),
                        ("--workers-per-device", args.workers_per_device),
                        ("--archs-per-task", args.archs_per_task)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be at least 1; got {value}")
        if value is not None and name == "sequential":
            raise ConfigError(f"{flag} needs --executor process or ray")
    if args.ray_address is not None:
        if name != "ray":
            raise ConfigError("--ray-address needs --executor ray")
        opts["address"] = args.ray_address
    return {k: v for k, v in opts.items() if v is not None}


def check_output_path(path: str | None, flag: str) -> None:
    """Fail now, before any scoring, when ``path`` cannot be written (the folder is missing or
    read-only, the path is a folder or a read-only file)."""
    if not path:
        return
    if path.endswith(("/", os.sep)):  # Path() would drop the slash and write a file there
        raise ConfigError(f"{flag} {path}: names a folder; give a file name")
    p = Path(path).expanduser()
    if p.is_dir():
        raise ConfigError(f"{flag} {path}: is a folder; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{flag} {path}: folder {parent} does not exist")
    if p.exists():
        if not os.access(p, os.W_OK):
            raise ConfigError(f"{flag} {path}: file is not writable")
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: folder {parent} is not writable")


def store_arg(args: argparse.Namespace) -> Any:
    if args.no_store:
        return False
    return args.store


def run_settings(args: argparse.Namespace, on_event: Callable[[Event], None] | None = None,
                 **overrides: Any) -> RunSettings:
    """The run settings of the shared flags (:func:`add_common`): the one place the CLI turns
    them into the record every run takes. ``overrides`` replace fields (e.g. the score
    command's store default)."""
    from ..settings import RunSettings

    values: dict[str, Any] = dict(
        data=args.data, batch_size=args.batch_size, seed=args.seed, data_seed=args.data_seed,
        device=args.device, store=store_arg(args), chunk_size=args.chunk_size,
        grad_method=args.grad_method, download=args.download,
        keep_failures=args.keep_failures, executor=args.executor,
        executor_opts=executor_opts(args), on_event=on_event,
    )
    values.update(overrides)
    return RunSettings(**values)


def dump_json(obj: Any) -> str:
    # json_clean turned every non-finite float into None; what JSON cannot write becomes text
    return json.dumps(json_clean(obj), indent=2, default=str)


def fmt(v: float | None, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.{digits}g}" if abs(v) >= 1e5 else f"{v:.{digits}f}"


class Renderer:
    """Draws events on stderr: a progress bar and a live top-k table in a terminal, plain
    progress lines otherwise."""

    def __init__(self, quiet: bool = False, top_k: int = 5, title: str = "") -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.quiet = quiet
        self.top_k = top_k
        self.title = title
        self.live: Any = None
        self.progress: Any = None
        self.task: Any = None
        self.total: int | None = None
        self._last_pct = -1

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _start(self, total: int | None, what: str) -> None:
        self.total = total
        if self.quiet or not self.console.is_terminal:
            return
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
            MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"), console=self.console,
        )
        self.task = self.progress.add_task(escape(what), total=total, info="")
        self.live = Live(self.progress, console=self.console, refresh_per_second=8,
                         transient=False)
        self.live.start()

    def _table(self, top: Sequence[tuple[str, float]], ev: Evaluated) -> Any:
        from rich.console import Group
        from rich.table import Table

        t = Table(title=escape(f"top {self.top_k} so far ({self.title})"), title_justify="left",
                  expand=False)
        t.add_column("#", justify="right")
        t.add_column("architecture", overflow="fold")
        t.add_column("score", justify="right")
        for i, (a, s) in enumerate(top[: self.top_k], 1):
            t.add_row(str(i), escape(a), fmt(s))
        t.caption = (f"evaluated {ev.n_evaluated}  cached {ev.n_cached}  "
                     f"failed {ev.n_failed}")
        return Group(self.progress, t)

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, Notice):
            self.console.print(f"nasx: note: {escape(ev.text)}", highlight=False, soft_wrap=True)
        elif isinstance(ev, RunStarted):
            what = f"search {ev.settings.get('space')}"
            self._start(ev.budget, what)
            if ev.resumed and not self.quiet:
                self.console.print(f"[cyan]resuming run {escape(ev.run_id)}: {ev.resumed} "
                                   "evaluations already stored[/]")
        elif isinstance(ev, Evaluated):
            if self.live is not None:
                self.progress.update(self.task, completed=ev.n_evaluated,
                                     info=f"best {fmt(ev.best_fitness)}")
                self.live.update(self._table(ev.top, ev))
            elif not self.quiet:
                self._plain(ev.n_evaluated, self.total,
                            f"best {fmt(ev.best_fitness)} {ev.best_arch or ''}")
            if ev.note and not self.quiet:
                self.console.print(f"[yellow]failed[/] {escape(ev.arch)}: {escape(ev.note)}",
                                   highlight=False)
        elif isinstance(ev, Progress):
            if self.total is None and (self.live is None):
                self._start(ev.total, ev.what)
            if self.live is not None:
                self.progress.update(self.task, completed=ev.done, total=ev.total)
            elif not self.quiet:
                self._plain(ev.done, ev.total, ev.what)
        elif isinstance(ev, RunFinished):
            self.stop()

    def _plain(self, done: int, total: int | None, text: str) -> None:
        if total:
            pct = int(100 * done / total)
            if pct // 10 == self._last_pct // 10 and done != total:
                return
            self._last_pct = pct
            self.console.print(escape(f"[{done}/{total}] {text}"), highlight=False)
        elif done % 10 == 0:
            self.console.print(escape(f"[{done}] {text}"), highlight=False)


def eprint(*a: Any) -> None:
    print(*a, file=sys.stderr)
