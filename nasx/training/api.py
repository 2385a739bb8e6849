"""Train the network a space builds for an architecture; store and reuse the result.

:func:`train` resolves the protocol, loads the data, checks that both fit the network, trains
(resuming from its checkpoint when one is there), writes ``result.json`` next to the checkpoint
and records the result in the store (table ``trained``), from which :func:`trained_accuracies`
reads (arch, accuracy) pairs back, e.g. as labels for a ranking calibration.

The stored key holds the space and its resolved options, the arch key, the protocol name, its
resolved fields and the overrides given, the data fingerprint (pixels, labels and the held-out
split), the seed and the device kind; a second call with the same key returns the stored result
without training (``force=True`` trains again).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..arch import Arch
from ..errors import ConfigError
from ..events import Event
from ..records import json_clean, opts_key
from .protocol import Protocol, load_protocol

__all__ = ["TrainResult", "train", "trained_accuracies", "default_checkpoint_root"]


@dataclass(frozen=True)
class TrainResult:
    """The outcome of training one architecture (``to_dict()`` is the ``--json`` record).

    ``accuracy`` is the held-out accuracy (percent) after the last epoch; ``history`` holds one
    entry per epoch: ``epoch, train_loss, train_acc, eval_loss, eval_acc, lr, seconds``.
    """

    arch: str
    space: str
    space_opts: Mapping[str, Any]
    protocol: Mapping[str, Any]
    data: Mapping[str, Any]
    seed: int
    device: str
    accuracy: float | None
    history: tuple[Mapping[str, Any], ...]
    params: int
    seconds: float
    checkpoint: str | None = None
    resumed_from: int = 0
    cached: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def best_accuracy(self) -> float | None:
        accs = [h["eval_acc"] for h in self.history if h.get("eval_acc") is not None]
        return max(accs) if accs else None

    def to_dict(self) -> dict[str, Any]:
        return json_clean({
            "arch": self.arch, "space": self.space, "space_opts": dict(self.space_opts),
            "protocol": dict(self.protocol), "data": dict(self.data), "seed": self.seed,
            "device": self.device, "accuracy": self.accuracy,
            "best_accuracy": self.best_accuracy, "params": self.params,
            "seconds": round(self.seconds, 3), "checkpoint": self.checkpoint,
            "resumed_from": self.resumed_from, "cached": self.cached,
            "history": [dict(h) for h in self.history],
        })

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, cached: bool = False) -> TrainResult:
        return cls(d["arch"], d["space"], dict(d["space_opts"]), dict(d["protocol"]),
                   dict(d["data"]), int(d["seed"]), d["device"], d["accuracy"],
                   tuple(dict(h) for h in d["history"]), int(d["params"]),
                   float(d["seconds"]), d.get("checkpoint"), int(d.get("resumed_from", 0)),
                   cached)


def default_checkpoint_root() -> Path:
    """``<nasx cache folder>/train`` (see :func:`nasx.data.cache_dir`)."""
    from ..data import cache_dir

    return cache_dir() / "train"


def _store_of(store: Any) -> Any:
    if store is False:
        return None
    from ..store import default_store_path, open_store

    return open_store(default_store_path() if store is None else store)


def train(
    space: str | Any,
    arch: str | Arch,
    *,
    protocol: str | Protocol = "quick",
    data: Any = None,
    test_data: Any = None,
    space_opts: Mapping[str, Any] | None = None,
    seed: int = 0,
    device: str | Any = "auto",
    store: Any = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    download: bool = False,
    force: bool = False,
    on_event: Callable[[Event], None] | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train the network of ``arch`` in ``space`` with ``protocol`` and report its held-out
    accuracy.

    Args:
        space: a registered space name or a space object.
        arch: the architecture in the space's notation (or an :class:`~nasx.arch.Arch`).
        protocol: ``nb201``, ``darts``, ``quick``, a YAML file path or a :class:`Protocol`.
        data: training data (see :func:`nasx.training.data.load_train_data`); required.
        test_data: held-out data of its own (else the source's test split or a holdout).
        space_opts: space options; they win over the protocol's ``space_opts``.
        seed: seed of the initialisation, the shuffling and the augmentation.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        store: store path, a Store, None (the default store) or False (none).
        checkpoint_dir: folder of ``checkpoint.pt`` and ``result.json`` [a folder per run
            under :func:`default_checkpoint_root`].
        threads: CPU threads for the run (torch's setting is restored afterwards).
        download: allow downloading ``cifar10``/``cifar100`` into the cache.
        force: train even when the store holds a result for this run.
        on_event: receives :class:`~nasx.events.TrainProgress` events.
        **overrides: protocol fields (e.g. ``epochs=12``).

    Raises:
        ConfigError: a protocol that does not fit the space, a checkpoint of another run.
        DataError: data that cannot be read or does not fit the network.

    Example:
        >>> r = train("nasbench201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
        ...           "|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", protocol="nb201",
        ...           data="cifar10", epochs=12)  # doctest: +SKIP
        >>> r.accuracy  # doctest: +SKIP
    """
    from ..registry import make_space
    from ..scoring import device_kind, resolve_device
    from .data import load_train_data
    from .loop import fit

    if data is None:
        raise ConfigError("no training data given (data=... / --data): a .npz file, a CIFAR "
                          "python folder or archive, an image folder, or cifar10 / cifar100")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be an int >= 0, got {seed!r}")
    proto = load_protocol(protocol, overrides)
    given_opts = dict(space_opts or {})
    if isinstance(space, str):
        merged = {**dict(proto.space_opts), **given_opts}
        try:
            space_obj = make_space(space, **merged)
        except ConfigError as exc:
            if set(proto.space_opts) - set(given_opts):
                raise ConfigError(f"protocol {proto.name!r} does not fit space {space!r} (it "
                                  f"sets space options {dict(proto.space_opts)}): {exc}; use "
                                  "another protocol or --set space_opts={}") from None
            raise
    else:
        space_obj = make_space(space, **given_opts)
    arch_obj = space_obj.check(arch) if isinstance(arch, Arch) else space_obj.parse(str(arch))
    dev = resolve_device(device)
    tdata = load_train_data(data, test_data=test_data, eval_split=proto.eval_split,
                            holdout=proto.holdout, split_seed=proto.split_seed,
                            download=download)
    key = {
        "space": space_obj.name, "space_opts": opts_key(space_obj.opts),
        "arch_key": arch_obj.key, "protocol": proto.name, "fields": opts_key(proto.fields()),
        "overrides": opts_key(dict(proto.overrides)), "data_fp": tdata.fingerprint,
        "seed": int(seed), "device": device_kind(dev),
    }
    db = _store_of(store)
    try:
        if db is not None and not force:
            hit = db.trained_get(key)
            if hit is not None:
                return TrainResult.from_dict(hit, cached=True)
        run_hash = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        folder = Path(checkpoint_dir).expanduser() if checkpoint_dir else \
            default_checkpoint_root() / run_hash
        ckpt_path = folder / "checkpoint.pt"
        t0 = time.perf_counter()
        out = fit(lambda: space_obj.build(arch_obj, tdata.num_classes), tdata, proto,
                  identity=dict(key), seed=int(seed), device=dev, checkpoint=ckpt_path,
                  input_shape=getattr(space_obj, "input_shape", None), space=space_obj.name,
                  arch=str(arch_obj), threads=threads, emit=on_event)
        history = tuple(out["history"])
        result = TrainResult(
            arch=str(arch_obj), space=space_obj.name, space_opts=dict(space_obj.opts),
            protocol=proto.to_dict(), data=tdata.describe(), seed=int(seed),
            device=device_kind(dev), accuracy=history[-1]["eval_acc"] if history else None,
            history=history, params=out["params"], seconds=time.perf_counter() - t0,
            checkpoint=str(ckpt_path), resumed_from=out["resumed_from"],
        )
        record = result.to_dict()
        tmp = folder / ".result.json.tmp"
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
        os.replace(tmp, folder / "result.json")
        if db is not None:
            db.trained_put(key, record["arch"], record["accuracy"], record)
        return result
    finally:
        if db is not None and db is not store:
            db.close()


def trained_accuracies(store: Any, space: str, *, protocol: str | None = None,
                       space_opts: Mapping[str, Any] | None = None,
                       data_fp: str | None = None, seed: int | None = None,
                       device: str | None = None) -> list[tuple[str, float]]:
    """(arch, held-out accuracy) pairs of the stored training results of ``space``, filtered
    by protocol name, resolved space options, data fingerprint, seed and device kind where
    given; the latest result per architecture (failed ones, without accuracy, are left out).

    Example:
        >>> pairs = trained_accuracies("scores.sqlite", "nasbench201",
        ...                            protocol="nb201")  # doctest: +SKIP
    """
    from ..registry import make_space
    from ..store import open_store

    where: dict[str, Any] = {"space": space}
    if protocol is not None:
        where["protocol"] = protocol
    if space_opts is not None:
        where["space_opts"] = opts_key(make_space(space, **dict(space_opts)).opts)
    if data_fp is not None:
        where["data_fp"] = data_fp
    if seed is not None:
        where["seed"] = int(seed)
    if device is not None:
        where["device"] = device
    db = open_store(store)
    try:
        rows = db.trained_rows(**where)
    finally:
        if db is not store:
            db.close()
    latest: dict[str, float] = {}
    for r in rows:
        if r["accuracy"] is not None:
            latest.pop(r["arch"], None)
            latest[r["arch"]] = float(r["accuracy"])
    return list(latest.items())
