"""Resource constraints of a search: parameter count and FLOPs, checked before scoring.

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

Measurements are cached in memory and in the score store (under the pseudo-proxies
``constraint:params`` / ``constraint:flops``, keyed by the number of classes and input shape), so
a resumed or repeated search never builds a network twice to check it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .arch import Arch
from .errors import ConfigError
from .records import opts_key

__all__ = ["ConstraintChecker", "Constraints", "count_flops", "count_params", "parse_quantity"]

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

    @classmethod
    def of(cls, max_params: Any = None, max_flops: Any = None) -> Constraints:
        return cls(parse_quantity(max_params, "max_params"),
                   parse_quantity(max_flops, "max_flops"))

    @property
    def active(self) -> bool:
        return self.max_params is not None or self.max_flops is not None

    def to_dict(self) -> dict[str, float]:
        out = {}
        if self.max_params is not None:
            out["max_params"] = self.max_params
        if self.max_flops is not None:
            out["max_flops"] = self.max_flops
        return out


class ConstraintChecker:
    """Measures architectures (cached) and says whether they satisfy the constraints.

    Args:
        space: builds the networks (``space.build(arch, num_classes)``).
        constraints: the bounds.
        num_classes: outputs of the classifier (the probe data's classes).
        store: optional :class:`~nasx.store.Store` caching the measurements.
    """

    def __init__(self, space: Any, constraints: Constraints, num_classes: int,
                 store: Any = None) -> None:
        self.space = space
        self.constraints = constraints
        self.num_classes = int(num_classes)
        self.store = store
        self._memo: dict[tuple[str, str], float] = {}
        self._opts = opts_key(getattr(space, "opts", {}))
        self._context = f"classes={self.num_classes};input={tuple(space.input_shape)}"

    def _key(self, arch: Arch, what: str) -> Any:
        from .store import ScoreKey

        return ScoreKey(self.space.name, self._opts, arch.key, f"constraint:{what}@1",
                        self._context, 0, "any")

    def measure(self, arch: Arch) -> dict[str, float]:
        """``{"params": ..., "flops": ...}`` for the constrained quantities only."""
        wanted = []
        if self.constraints.max_params is not None:
            wanted.append("params")
        if self.constraints.max_flops is not None:
            wanted.append("flops")
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
            for what in missing:
                v = float(count_params(model) if what == "params"
                          else count_flops(model, tuple(self.space.input_shape)))
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
        return ("; ".join(reasons) or None), m


def _si(v: float) -> str:
    for div, suf in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.4g}{suf}"
    return f"{v:.4g}"
