"""Resource constraints of a search: parameter count, FLOPs and latency, checked before scoring.

An architecture that violates a constraint is never scored: the search tells it to the strategy
as infeasible (fitness ``-inf``, the reason in ``info``) and counts it separately.

Definitions (both measured on the network the space builds, with the probe data's number of
classes):

* ``params``: the number of elements of every parameter of the network
  (``sum(p.numel() for p in model.parameters())``), as NAS-Bench-201 reports its parameter counts.
* ``flops``: the operations of one forward pass of one input image (batch of 1, the space's
  input shape, eval mode) in the convention of the ``flops`` proxy (NASLib's: multiply-adds of
  convolutions and linear layers, counted with ``torch.utils.flop_counter.FlopCounterMode``, plus
  the element operations of BatchNorm, activations and pooling), so a limit read off
  ``nasx score --proxy flops`` (which prints millions) applies as is: ``--max-flops 300M``.
* ``latency``: milliseconds of one forward pass measured on the search's device by
  :func:`nasx.proxies.latency.measure_latency`, the function of the ``latency`` proxy, with that
  proxy's registered options (batch 1, 5 warm-up passes, median of 20; ``latency_opts``
  overrides them), so a bound read off ``nasx score --proxy latency`` applies as is:
  ``max_latency_ms=5``. A measurement, not a count: an architecture near the bound may fall on
  either side of it from one machine state to the next.

Measurements are cached in memory and in the score store (under the pseudo-proxies
``constraint:params`` / ``constraint:flops`` / ``constraint:latency``, keyed by the number of
classes and input shape; latency also by the device model of
:func:`nasx.scoring.device_model` and the measurement's options), so a resumed or repeated
search never builds a network twice to check it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .arch import Arch
from .errors import ConfigError
from .records import opts_key

__all__ = ["QUANTITIES", "ConstraintChecker", "Constraints", "count_flops", "count_params",
           "parse_quantity"]

#: what the checker measures (the costs of :mod:`nasx.pareto` too)
QUANTITIES = ("params", "flops", "latency")

_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kKmMgGbBtT]?)\s*$")


def parse_quantity(value: str | float | None, what: str = "value") -> float | None:
    """``"1.5M"`` -> 1.5e6, ``"300k"`` -> 3e5, ``"2G"`` -> 2e9, ``1e6`` -> 1e6; None passes.

    Suffixes (case-insensitive): k = 1e3, M = 1e6, G or B = 1e9, T = 1e12.

    Example:
        >>> parse_quantity("1.5M"), parse_quantity("300M"), parse_quantity(1000)
        (1500000.0, 300000000.0, 1000.0)
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        out = float(value)
    else:
        m = _QUANTITY.match(str(value))
        if not m:
            raise ConfigError(
                f"{what} {value!r} is not a number; use e.g. 1500000, 1.5M, 300k or 2G"
            )
        out = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
    if not math.isfinite(out) or out <= 0:
        raise ConfigError(f"{what} must be a positive number, got {value!r}")
    return out


def count_params(model: Any) -> int:
    """Number of parameter elements of ``model``."""
    return int(sum(p.numel() for p in model.parameters()))


def count_flops(model: Any, input_shape: tuple[int, ...]) -> float:
    """Operations of one forward pass of one input, in the ``flops`` proxy's convention
    (:func:`nasx.proxies.cost.count_flops`: multiply-adds plus element operations)."""
    from .proxies.cost import count_flops as _count

    return _count(model, tuple(input_shape), "naslib")


@dataclass(frozen=True)
class Constraints:
    """Upper bounds on resources (None: unconstrained)."""

    max_params: float | None = None
    max_flops: float | None = None
    max_latency_ms: float | None = None

    @classmethod
    def of(cls, max_params: Any = None, max_flops: Any = None,
           max_latency_ms: Any = None) -> Constraints:
        return cls(parse_quantity(max_params, "max_params"),
                   parse_quantity(max_flops, "max_flops"),
                   parse_quantity(max_latency_ms, "max_latency_ms"))

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.max_params, self.max_flops,
                                           self.max_latency_ms))

    def to_dict(self) -> dict[str, float]:
        out = {}
        if self.max_params is not None:
            out["max_params"] = self.max_params
        if self.max_flops is not None:
            out["max_flops"] = self.max_flops
        if self.max_latency_ms is not None:
            out["max_latency_ms"] = self.max_latency_ms
        return out


class ConstraintChecker:
    """Measures architectures (cached) and says whether they satisfy the constraints.

    Args:
        space: builds the networks (``space.build(arch, num_classes)``).
        constraints: the bounds.
        num_classes: outputs of the classifier (the probe data's classes).
        store: optional :class:`~nasx.store.Store` caching the measurements.
        device: where latency is measured (``cpu``, ``cuda``, ``cuda:N`` or a torch.device;
            the search's scoring device). Params and FLOPs are counted on the CPU.
        latency_opts: options of the latency measurement (``batch_size``, ``warmup``,
            ``repeats``, ``threads``) overriding those the ``latency`` proxy is registered with.
    """

    def __init__(self, space: Any, constraints: Constraints, num_classes: int,
                 store: Any = None, *, device: Any = "cpu",
                 latency_opts: Mapping[str, Any] | None = None) -> None:
        self.space = space
        self.constraints = constraints
        self.num_classes = int(num_classes)
        self.store = store
        self._memo: dict[tuple[str, str], float] = {}
        self._opts = opts_key(getattr(space, "opts", {}))
        self._context = f"classes={self.num_classes};input={tuple(space.input_shape)}"
        self.device = device
        self._latency_given = dict(latency_opts or {})
        self.latency_opts: dict[str, Any] = {}
        self._latency_context = ""
        if constraints.max_latency_ms is not None:
            self._setup_latency()  # bad options fail here, not at the first check

    def _setup_latency(self) -> None:
        if self._latency_context:
            return
        from .proxies.base import get_proxy
        from .scoring import device_model, resolve_device

        self.device = resolve_device(self.device)
        opts = dict(get_proxy("latency").options)
        unknown = set(self._latency_given) - set(opts)
        if unknown:
            raise ConfigError(f"unknown latency option(s) {sorted(unknown)}; known: "
                              f"{', '.join(sorted(opts))}")
        opts.update(self._latency_given)
        self.latency_opts = opts
        self._latency_context = (f"{self._context};device_model={device_model(self.device)};"
                                 f"{opts_key(opts)}")

    def _key(self, arch: Arch, what: str) -> Any:
        from .store import ScoreKey

        if what == "latency":
            return ScoreKey(self.space.name, self._opts, arch.key, "constraint:latency@1",
                            self._latency_context, 0, str(self.device.type))
        return ScoreKey(self.space.name, self._opts, arch.key, f"constraint:{what}@1",
                        self._context, 0, "any")

    def measure(self, arch: Arch, quantities: Sequence[str] | None = None
                ) -> dict[str, float]:
        """``{"params": ..., "flops": ..., "latency": ...}`` for ``quantities`` (default: the
        constrained quantities only); latency in milliseconds."""
        if quantities is None:
            wanted = []
            if self.constraints.max_params is not None:
                wanted.append("params")
            if self.constraints.max_flops is not None:
                wanted.append("flops")
            if self.constraints.max_latency_ms is not None:
                wanted.append("latency")
        else:
            wanted = list(dict.fromkeys(quantities))
            bad = [w for w in wanted if w not in QUANTITIES]
            if bad:
                raise ConfigError(f"unknown cost {bad[0]!r}; use one of {', '.join(QUANTITIES)}")
        if "latency" in wanted:
            self._setup_latency()
        out: dict[str, float] = {}
        missing = []
        for what in wanted:
            v = self._memo.get((arch.key, what))
            if v is None and self.store is not None:
                hit = self.store.get(self._key(arch, what))
                if hit is not None and hit.value is not None:
                    v = float(hit.value)
                    self._memo[(arch.key, what)] = v
            if v is None:
                missing.append(what)
            else:
                out[what] = v
        if missing:
            import torch

            from .scoring import ScoreResult

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                model = self.space.build(arch, self.num_classes)
            for what in missing:  # latency last: it moves the model to the device
                if what == "params":
                    v = float(count_params(model))
                elif what == "flops":
                    v = count_flops(model, tuple(self.space.input_shape))
                else:
                    v = self._latency(model)
                out[what] = v
                self._memo[(arch.key, what)] = v
                if self.store is not None:
                    self.store.put(self._key(arch, what),
                                   ScoreResult(arch.text, f"constraint:{what}", v))
        return out

    def check(self, arch: Arch) -> tuple[str | None, dict[str, float]]:
        """(reason it is infeasible or None, measurements)."""
        m = self.measure(arch)
        reasons = []
        c = self.constraints
        if c.max_params is not None and m["params"] > c.max_params:
            reasons.append(f"params {_si(m['params'])} > max {_si(c.max_params)}")
        if c.max_flops is not None and m["flops"] > c.max_flops:
            reasons.append(f"flops {_si(m['flops'])} > max {_si(c.max_flops)}")
        if c.max_latency_ms is not None and m["latency"] > c.max_latency_ms:
            reasons.append(f"latency {m['latency']:.4g} ms > max {c.max_latency_ms:.4g} ms")
        return ("; ".join(reasons) or None), m

    def _latency(self, model: Any) -> float:
        from .proxies.latency import measure_latency

        return measure_latency(model.to(self.device), tuple(self.space.input_shape),
                               device=self.device, **self.latency_opts)


def _si(v: float) -> str:
    for div, suf in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.4g}{suf}"
    return f"{v:.4g}"
