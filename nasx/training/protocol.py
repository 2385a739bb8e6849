"""Training protocols as data: YAML files of named fields, shipped ones and the user's own.

A protocol is a frozen :class:`Protocol` whose fields (:data:`FIELDS`) say how to train: the
optimiser, the learning-rate schedule, the augmentation, the regularisers (drop-path, auxiliary
head, gradient clipping), the held-out split and the space options it expects (``space_opts``,
e.g. DARTS's 36 channels and 20 cells). Shipped protocols (``nasx/training/protocols/*.yaml``):

* ``nb201``: NAS-Bench-201's schedule (Dong & Yang, ICLR 2020); ``epochs=12`` gives its short one;
* ``darts``: the DARTS evaluation protocol (Liu et al., ICLR 2019);
* ``quick``: 3 epochs, for smoke runs only.

A user protocol is a YAML file given by path; ``base: nb201`` starts it from a shipped (or another
file's) protocol. Every field can be overridden (``--set epochs=12``, values read as YAML); an
unknown field is a :class:`~nasx.errors.ConfigError` listing the fields.

Example:
    >>> p = load_protocol("nb201", {"epochs": 12})
    >>> p.name, p.epochs, p.lr, p.batch_size
    ('nb201', 12, 0.1, 256)
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from ..errors import ConfigError, UnknownNameError

__all__ = ["FIELDS", "Protocol", "load_protocol", "list_protocols", "parse_overrides"]

#: field -> (type, default, help); ``name`` and ``source`` are descriptive, not fields
FIELDS: dict[str, tuple[type, Any, str]] = {
    "epochs": (int, 3, "training epochs"),
    "batch_size": (int, 64, "training batch size"),
    "eval_batch_size": (int, 512, "batch size of held-out evaluation (no effect on figures)"),
    "optimizer": (str, "sgd", "sgd"),
    "lr": (float, 0.05, "initial learning rate"),
    "lr_min": (float, 0.0, "final learning rate of the cosine schedule"),
    "momentum": (float, 0.9, "SGD momentum"),
    "nesterov": (bool, True, "Nesterov momentum"),
    "weight_decay": (float, 5e-4, "L2 weight decay (all parameters)"),
    "schedule": (str, "cosine", "cosine or constant"),
    "schedule_unit": (str, "step", "update the learning rate every step or every epoch"),
    "crop_padding": (int, 4, "random crop to the image size after this zero padding (0: off)"),
    "flip": (bool, True, "random horizontal flip"),
    "cutout": (int, 0, "cutout square length in pixels (0: off)"),
    "drop_path": (float, 0.0, "drop-path probability, raised linearly from 0 over the epochs"),
    "auxiliary_weight": (float, 0.0, "weight of the auxiliary head's loss (0: no head)"),
    "grad_clip": (float, 0.0, "clip the gradient norm at this value (0: off)"),
    "label_smoothing": (float, 0.0, "label smoothing of the cross-entropy"),
    "eval_split": (str, "auto", ("held-out data: test (the source's test split or test_data), "
                                 "holdout (a seeded fraction of the training data), or auto "
                                 "(test when there is one, else holdout)")),
    "holdout": (float, 0.1, "fraction of each class held out (eval_split holdout)"),
    "split_seed": (int, 0, "seed of the held-out split"),
    "amp": (bool, True, "mixed precision (autocast + GradScaler) on CUDA; no effect on CPU"),
    "channels_last": (bool, True, "channels-last memory format on CUDA; no effect on CPU"),
    "space_opts": (dict, {}, "space options the protocol expects (explicit ones win)"),
}
_CHOICES = {"optimizer": ("sgd",), "schedule": ("cosine", "constant"),
            "schedule_unit": ("step", "epoch"), "eval_split": ("auto", "test", "holdout")}
_META = ("name", "source", "base")


@dataclass(frozen=True)
class Protocol:
    """A resolved training protocol (every field of :data:`FIELDS` set).

    ``overrides`` are the fields given on top of the named protocol (``--set``); they are part
    of every stored result's key together with the resolved fields.
    """

    name: str
    source: str
    values: Mapping[str, Any]
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, key: str) -> Any:
        values = self.__dict__.get("values")
        if values is not None and key in values:
            return values[key]
        raise AttributeError(key)

    def fields(self) -> dict[str, Any]:
        """Every field and its value (``space_opts`` as a plain dict)."""
        out = dict(self.values)
        out["space_opts"] = dict(out["space_opts"])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "fields": self.fields(),
                "overrides": dict(self.overrides)}


def list_protocols() -> list[str]:
    """Names of the protocols shipped with nasx."""
    root = resources.files(__package__) / "protocols"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"protocol {where} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"protocol {where} must be a mapping of fields to values")
    return data


def _raw(ref: str, seen: tuple[str, ...] = ()) -> tuple[str, str, dict[str, Any]]:
    """(name, source, fields) of a shipped protocol name or a YAML path, bases applied."""
    if ref in seen:
        raise ConfigError(f"protocol {ref}: 'base' chain loops ({' -> '.join((*seen, ref))})")
    path = Path(ref).expanduser()
    if ref.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"protocol file {ref} not found")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read protocol file {ref}: {exc}") from None
        data = _read_yaml(text, ref)
        default_name = path.stem
    else:
        names = list_protocols()
        if ref not in names:
            close = difflib.get_close_matches(ref.lower(), names, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(f"no protocol {ref!r}.{hint} Shipped: {', '.join(names)}; "
                                   "or give a YAML file path")
        text = (resources.files(__package__) / "protocols" / f"{ref}.yaml").read_text("utf-8")
        data = _read_yaml(text, ref)
        default_name = ref
    fields: dict[str, Any] = {}
    base = data.get("base")
    if base is not None:
        _, _, fields = _raw(str(base), (*seen, ref))
    fields.update({k: v for k, v in data.items() if k not in _META})
    return str(data.get("name") or default_name), str(data.get("source") or ""), fields


def _coerce(key: str, value: Any, where: str) -> Any:
    if key not in FIELDS:
        close = difflib.get_close_matches(key, FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{where}: unknown protocol field {key!r}{hint}; fields: "
                          f"{', '.join(FIELDS)}")
    typ = FIELDS[key][0]
    bad = ConfigError(f"{where}: field {key}={value!r} is not a valid {typ.__name__}")
    if typ is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        if not isinstance(value, bool):
            raise bad
        return value
    if typ is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise bad
        return {str(k): v for k, v in value.items()}
    if isinstance(value, bool):
        raise bad
    if typ is int and isinstance(value, float) and not value.is_integer():
        raise bad
    try:
        value = typ(value)
    except (TypeError, ValueError):
        raise bad from None
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(f"{where}: field {key} must be one of {', '.join(_CHOICES[key])}, "
                          f"got {value!r}")
    return value


def _check(values: dict[str, Any], where: str) -> None:
    def need(ok: bool, text: str) -> None:
        if not ok:
            raise ConfigError(f"{where}: {text}")

    need(values["epochs"] >= 1, f"epochs must be >= 1, got {values['epochs']}")
    need(values["batch_size"] >= 2, f"batch_size must be >= 2, got {values['batch_size']}")
    need(values["eval_batch_size"] >= 1, "eval_batch_size must be >= 1")
    need(values["lr"] > 0, f"lr must be > 0, got {values['lr']}")
    need(0 <= values["lr_min"] <= values["lr"], "lr_min must lie in 0..lr")
    need(values["momentum"] >= 0, "momentum must be >= 0")
    need(not values["nesterov"] or values["momentum"] > 0, "nesterov needs momentum > 0")
    need(values["weight_decay"] >= 0, "weight_decay must be >= 0")
    need(values["crop_padding"] >= 0, "crop_padding must be >= 0")
    need(values["cutout"] >= 0, "cutout must be >= 0")
    need(0 <= values["drop_path"] < 1, "drop_path must lie in [0, 1)")
    need(values["auxiliary_weight"] >= 0, "auxiliary_weight must be >= 0")
    need(values["grad_clip"] >= 0, "grad_clip must be >= 0 (0: off)")
    need(0 <= values["label_smoothing"] < 1, "label_smoothing must lie in [0, 1)")
    need(0 < values["holdout"] < 1, f"holdout must lie in (0, 1), got {values['holdout']}")


def parse_overrides(items: Any) -> dict[str, Any]:
    """``["epochs=12", "lr=0.05"]`` (values read as YAML) or a mapping -> a dict of overrides."""
    if not items:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in str(item):
            raise ConfigError(f"--set {item!r} must be FIELD=VALUE; fields: {', '.join(FIELDS)}")
        k, v = str(item).split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v) if v.strip() else ""
        except yaml.YAMLError:
            out[k.strip()] = v.strip()
    return out


def load_protocol(protocol: str | Protocol, overrides: Mapping[str, Any] | None = None
                  ) -> Protocol:
    """A shipped protocol by name or a YAML file by path, with ``overrides`` applied.

    Raises:
        UnknownNameError: no shipped protocol of that name (with a did-you-mean).
        ConfigError: an unreadable file, an unknown field or a bad value.
    """
    given = dict(overrides or {})
    if isinstance(protocol, Protocol):
        name, source = protocol.name, protocol.source
        raw = protocol.fields()
        given = {**dict(protocol.overrides), **given}
    else:
        name, source, raw = _raw(str(protocol))
    values = {k: d for k, (_, d, _) in FIELDS.items()}
    for key, value in raw.items():
        values[key] = _coerce(key, value, f"protocol {name}")
    clean: dict[str, Any] = {}
    for key, value in given.items():
        k = str(key).replace("-", "_")
        clean[k] = _coerce(k, value, "--set")
        values[k] = clean[k]
    _check(values, f"protocol {name}")
    values["space_opts"] = MappingProxyType(dict(values["space_opts"]))
    return Protocol(name, source, MappingProxyType(values), MappingProxyType(clean))
