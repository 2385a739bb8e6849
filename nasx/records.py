"""Frozen records shared by the engine, and the rules that turn them into keys and JSON.

* :class:`ScoreResult`: the outcome of scoring one architecture with one proxy (status
  constants :data:`OK`, :data:`FAILED`, :data:`NONFINITE`, :data:`OOM`).
* :class:`ScoreKey`: everything a stored score depends on; :func:`opts_key` is the canonical
  text of a mapping of options inside it.
* :class:`Evaluation`: what a strategy is told about one evaluated architecture.
* :class:`SearchResult`: what a search returns.
* :func:`finite_or_none` and :func:`json_clean`: non-finite floats become None (JSON null).

The module imports nothing from the rest of nasx but :mod:`nasx.arch`, so every layer can use it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .arch import Arch

if TYPE_CHECKING:
    from .proxies.base import ProxySpec

__all__ = [
    "OK",
    "FAILED",
    "NONFINITE",
    "OOM",
    "INFEASIBLE",
    "ScoreResult",
    "ScoreKey",
    "Evaluation",
    "SearchResult",
    "opts_key",
    "finite_or_none",
    "json_clean",
]

OK = "ok"
FAILED = "failed"  # the proxy raised
NONFINITE = "nonfinite"  # the proxy returned NaN or inf
OOM = "oom"  # out of memory even at the smallest chunk
INFEASIBLE = "infeasible"  # rejected by the constraints, never scored


def finite_or_none(v: Any) -> float | None:
    """``float(v)``, or None when ``v`` is None, NaN or infinite."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def json_clean(x: Any) -> Any:
    """``x`` with NaN/inf replaced by None, mappings and sequences cleaned recursively, and
    numpy scalars turned into Python numbers (so ``json.dumps`` writes valid JSON)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Mapping):
        return {k: json_clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_clean(v) for v in x]
    item = getattr(x, "item", None)
    if callable(item) and type(x).__module__ == "numpy":
        return json_clean(item())
    return x


def opts_key(opts: Mapping[str, Any]) -> str:
    """The canonical text of a mapping of options (sorted keys; values that JSON cannot write
    as their ``str``): equal options give equal text, in any process."""
    return json.dumps({k: opts[k] for k in sorted(opts)}, sort_keys=True, default=str)


@dataclass(frozen=True)
class ScoreResult:
    """The recorded outcome of scoring one architecture with one proxy.

    ``value`` is the raw score (None on failure); :meth:`oriented` gives the score with higher
    always better, and failures rank last.
    """

    arch: str
    proxy: str
    value: float | None
    status: str = OK
    error: str | None = None
    seconds: float = 0.0
    cached: bool = False
    higher_is_better: bool = True

    @property
    def ok(self) -> bool:
        return self.status == OK and self.value is not None

    def oriented(self) -> float:
        """Score with higher better; ``-inf`` for failures (ranked last)."""
        if not self.ok:
            return -math.inf
        assert self.value is not None
        return self.value if self.higher_is_better else -self.value

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value"] = finite_or_none(d["value"])
        return d


@dataclass(frozen=True)
class ScoreKey:
    """Everything a cached score depends on.

    ``scoring`` is the JSON of :func:`nasx.scoring.key_options` (scorer version, batch split of
    split-sensitive proxies, further scoring-route options); ``""`` for records that do not
    come from the scorer (e.g. constraint measurements).
    """

    space: str
    space_opts: str
    arch_key: str
    proxy: str
    data_fp: str
    seed: int
    device: str
    scoring: str = ""

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.space, self.space_opts, self.arch_key, self.proxy, self.data_fp, self.seed,
                self.device, self.scoring)


@dataclass(frozen=True)
class Evaluation:
    """What a strategy is told about one architecture it asked for (``Strategy.tell``).

    Attributes:
        arch: the architecture.
        fitness: the oriented fitness (higher is better; ``-inf`` for a failure or an
            infeasible architecture).
        raw: the fitness proxy's raw score (None when it failed or was not scored); for a
            population proxy, its value over the population evaluated so far.
        proxy: the fitness proxy (its spec), None when unknown.
        results: per leaf proxy, its :class:`ScoreResult` (empty when not scored); a
            population proxy's strategy re-ranks these over everything told.
        infeasible: why the constraints rejected it (None when feasible).
        measured: what the constraint check measured (e.g. ``params``, ``flops``).
    """

    arch: Arch
    fitness: float
    raw: float | None = None
    proxy: ProxySpec | None = None
    results: Mapping[str, ScoreResult] = field(default_factory=dict)
    infeasible: str | None = None
    measured: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "results", MappingProxyType(dict(self.results)))
        object.__setattr__(self, "measured", MappingProxyType(dict(self.measured)))

    def leaf_values(self) -> dict[str, float | None]:
        """Per leaf proxy, its raw value (None for a failure)."""
        return {name: (float(r.value) if r.ok else None)  # type: ignore[arg-type]
                for name, r in self.results.items()}


@dataclass(frozen=True)
class SearchResult:
    """What a search returns (``to_dict()`` is the ``--json`` output)."""

    best: Arch | None
    score: float | None
    proxy: str
    space: str
    strategy: str
    seed: int
    evaluated: int
    cached: int
    failed: int
    seconds: float
    data_fingerprint: str
    top: tuple[tuple[str, float], ...]
    run_id: str
    resumed: int = 0
    settings: Mapping[str, Any] = field(default_factory=dict)
    stopped_by: str = ""
    infeasible: int = 0
    #: the Pareto front when asked for (:mod:`nasx.pareto`): per point ``{"arch", "fitness",
    #: <cost>: value, ...}``, fittest first; None when not asked for
    pareto: tuple[Mapping[str, Any], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "best": str(self.best) if self.best is not None else None,
            "score": finite_or_none(self.score),
            "proxy": self.proxy,
            "space": self.space,
            "strategy": self.strategy,
            "seed": self.seed,
            "evaluated": self.evaluated,
            "cached": self.cached,
            "failed": self.failed,
            "infeasible": self.infeasible,
            "seconds": round(self.seconds, 3),
            "data_fingerprint": self.data_fingerprint,
            "top": [{"arch": a, "score": finite_or_none(s)} for a, s in self.top],
            "run_id": self.run_id,
            "resumed": self.resumed,
            "stopped_by": self.stopped_by,
            "settings": dict(self.settings),
        }
        if self.pareto is not None:
            out["pareto"] = [json_clean(dict(p)) for p in self.pareto]
        return out
