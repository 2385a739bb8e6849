"""Train the network of one architecture with a protocol and report its held-out accuracy.

Examples:
  nasx train --space nasbench201 --protocol nb201 --set epochs=12 --data cifar10 \\
      '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
  nasx train --space darts --protocol darts --data cifar10 "$(cat genotype.txt)"
  nasx train --space nasbench201 --space-opt C=8 --space-opt N=1 --protocol quick \\
      --data train.npz --test-data test.npz --json ARCH

Protocols: nb201 (NAS-Bench-201), darts (DARTS evaluation), quick (smoke runs), or a YAML
file; override any field with --set FIELD=VALUE (repeatable). The run is checkpointed every
epoch; after a kill or Ctrl-C the same command resumes and ends with the same weights and
figures. Results are stored (--store) and a second identical command returns them at once.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ConfigError
from ..events import Event, Notice, TrainProgress
from .common import dump_json, fmt, parse_kv

HELP = "train an architecture's network with a protocol (held-out accuracy)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", metavar="ARCH", help="the architecture in the space's notation")
    p.add_argument("--space", default="nasbench201", help="search space (nasx list spaces)")
    p.add_argument("--space-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="space option, repeatable; wins over the protocol's space options")
    p.add_argument("--protocol", default=None,
                   help="nb201, darts, quick, or a protocol YAML file (required)")
    p.add_argument("--set", dest="set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a protocol field, repeatable (e.g. epochs=12)")
    p.add_argument("--data", default=None,
                   help="training data: .npz (x uint8 NHWC, y), CIFAR python folder/archive, "
                   "image folder, cifar10 / cifar100 (from the cache, see --download) (required)")
    p.add_argument("--test-data", default=None,
                   help="held-out data of its own [the source's test split, else a seeded "
                   "holdout of the training data: --set holdout=0.1 --set split_seed=0]")
    p.add_argument("--download", action="store_true",
                   help="download cifar10/cifar100 into the cache if absent")
    p.add_argument("--seed", type=int, default=0, help="seed of init, shuffling, augmentation")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps [auto]")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for training [torch's default]")
    p.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="folder of checkpoint.pt and result.json [one per run in the cache]")
    p.add_argument("--store", default=None, metavar="PATH",
                   help="SQLite store of results [user cache folder]")
    p.add_argument("--no-store", action="store_true", help="do not read or write a store")
    p.add_argument("--force", action="store_true", help="train even if the result is stored")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="save the training curves (needs nasx[plot])")
    p.add_argument("--json", action="store_true", help="print the result record as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.add_argument("--config", default=None, metavar="FILE.yaml",
                   help="YAML file whose keys are any of these flags")


class TrainRenderer:
    """A progress bar of the epochs on stderr (plain lines when not a terminal)."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.quiet = quiet
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> TrainRenderer:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _start(self, ev: TrainProgress) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
            TextColumn("left {task.fields[eta]}"), TextColumn("{task.fields[info]}"),
            console=self.console, transient=False,
        )
        self.task = self.progress.add_task("train", total=ev.epochs * ev.steps,
                                           epoch="", eta="", info="")
        self.progress.start()

    def __call__(self, ev: Event) -> None:
        if self.quiet:
            return
        if isinstance(ev, Notice):
            self.console.print(f"nasx: note: {ev.text}", highlight=False)
            return
        if not isinstance(ev, TrainProgress):
            return
        eta = _clock(ev.eta)
        info = f"loss {ev.train_loss:.3f} acc {ev.train_acc:.1f}%"
        if ev.eval_acc is not None:
            info += f" | held-out {ev.eval_acc:.2f}%"
        if self.console.is_terminal:
            if self.progress is None:
                self._start(ev)
            self.progress.update(self.task, completed=(ev.epoch - 1) * ev.steps + ev.step,
                                 epoch=f"{ev.epoch}/{ev.epochs}", eta=eta, info=info)
        elif ev.epoch_done:
            self.console.print(f"epoch {ev.epoch}/{ev.epochs}  {info}  lr {ev.lr:.4g}  "
                               f"left {eta}", highlight=False)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def run(args: argparse.Namespace) -> int:
    from ..training import parse_overrides, plot_training, train

    if not args.protocol:
        raise ConfigError("--protocol is required: nb201, darts, quick, or a YAML file")
    if not args.data:
        raise ConfigError("--data is required: a .npz file, a CIFAR python folder or archive, "
                          "an image folder, or cifar10 / cifar100")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be at least 1; got {args.threads}")
    store: Any = False if args.no_store else args.store
    try:
        with TrainRenderer(quiet=args.quiet) as render:
            result = train(
                args.space, args.arch, protocol=args.protocol, data=args.data,
                test_data=args.test_data, space_opts=parse_kv(args.space_opt, "--space-opt"),
                seed=args.seed, device=args.device, store=store,
                checkpoint_dir=args.checkpoint_dir, threads=args.threads,
                download=args.download, force=args.force, on_event=render,
                **parse_overrides(args.set),
            )
    except KeyboardInterrupt:
        print("nasx: interrupted; the last finished epoch is checkpointed: run the same "
              "command again to resume", file=sys.stderr)
        return 130
    if args.plot:
        plot_training(result, args.plot)
    d = result.to_dict()
    if args.json:
        print(dump_json(d))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(show_edge=False, show_header=False)
    t.add_column("", style="bold")
    t.add_column("", overflow="fold")
    proto = d["protocol"]
    over = ", ".join(f"{k}={v}" for k, v in proto["overrides"].items())
    rows = [
        ("architecture", d["arch"]),
        ("space", f"{d['space']} {d['space_opts']}"),
        ("protocol", proto["name"] + (f" ({over})" if over else "")),
        ("data", f"{d['data']['name']}: {d['data']['train_images']} training images; "
                 f"held out: {d['data']['held_out']} ({d['data']['held_out_images']} images)"),
        ("epochs", str(len(d["history"]))),
        ("held-out accuracy", f"{fmt(d['accuracy'], 2)} % (last epoch; best "
                              f"{fmt(d['best_accuracy'], 2)} %)"),
        ("parameters", f"{d['params']:,}"),
        ("seed / device", f"{d['seed']} / {d['device']}"),
        ("seconds", f"{d['seconds']:.1f}" + (" (stored result)" if d["cached"] else "")
         + (f", resumed after epoch {d['resumed_from']}" if d["resumed_from"] else "")),
        ("checkpoint", str(d["checkpoint"])),
    ]
    for k, v in rows:
        t.add_row(k, v)
    Console(soft_wrap=False).print(t)
    return 0
