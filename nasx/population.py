"""Population-level proxies: scores computed from other proxies' scores over a set of archs.

TE-NAS ranks every architecture of the evaluated population by each of its two components (NTK
condition number, linear-region count) and sums the ranks; ensembles of proxies work the same
way. A population proxy is registered with ``components=[...]`` and a ``combine`` function that
maps ``{component name: array of raw scores over the population}`` to an array of scores.

:func:`leaf_proxies` expands a proxy list into the per-model proxies that must actually be
scored; :func:`population_values` turns the leaf results of a population into the final scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import rankdata

from .registry import proxies as _proxy_registry

if TYPE_CHECKING:
    from .proxies.base import ProxySpec

__all__ = [
    "leaf_proxies",
    "population_values",
    "rank_sum",
    "log_rank_sum",
    "oriented_ranks",
    "population_fitness",
]


def _spec(name: str | ProxySpec) -> ProxySpec:
    """A registered proxy's spec by name; a spec passes through (the lookup of
    :func:`nasx.proxies.base.get_proxy`, without importing the proxies package, which imports
    this module for its population proxies)."""
    return _proxy_registry.get(name) if isinstance(name, str) else name


def leaf_proxies(names: Sequence[str | ProxySpec]) -> list[ProxySpec]:
    """The per-model proxies needed to compute ``names`` (components of population proxies
    expanded, recursively; order kept, duplicates removed)."""
    out: list[ProxySpec] = []
    seen: set[str] = set()

    def visit(spec: ProxySpec, depth: int = 0) -> None:
        if depth > 8:
            raise RecursionError(f"population proxy {spec.name!r} nests too deeply")
        if spec.population:
            for c in spec.components:
                visit(_spec(c), depth + 1)
        elif spec.name not in seen:
            seen.add(spec.name)
            out.append(spec)

    for n in names:
        visit(_spec(n))
    return out


def oriented_ranks(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Ranks 1..n with n the best; NaN/None (failures) share the lowest rank."""
    v = np.asarray(values, dtype=np.float64)
    o = v if higher_is_better else -v
    o = np.where(np.isfinite(o), o, -np.inf)
    return rankdata(o, method="average")


def rank_sum(components: Mapping[str, np.ndarray]) -> np.ndarray:
    """Sum over components of each architecture's oriented rank (higher is better)."""
    total = None
    for name, values in components.items():
        spec = _spec(name)
        r = oriented_ranks(values, spec.higher_is_better)
        total = r if total is None else total + r
    if total is None:
        raise ValueError("rank_sum needs at least one component")
    return total


def log_rank_sum(components: Mapping[str, np.ndarray]) -> np.ndarray:
    """Sum over components of ``log(r / n)``, ``r`` each architecture's oriented rank (1..n,
    n the best, ties averaged, failures lowest) and ``n`` the population size; higher is better.

    This is AZ-NAS's non-linear rank aggregation (Lee & Ham, CVPR 2024): an architecture that
    is poor under one component is penalised more than :func:`rank_sum` does, since ``log`` is
    steepest near rank 1. Every value is ``<= 0``; the best possible is ``0`` (ranked first by
    every component). The ``1/n`` factor shifts every score by the same amount, so rankings
    equal those of the sum of ``log r``.

    Example:
        >>> import numpy as np
        >>> from nasx.population import log_rank_sum
        >>> # "params" and "flops" are registered, higher is better
        >>> log_rank_sum({"params": np.array([1.0, 3.0, 2.0]),
        ...               "flops": np.array([1.0, 2.0, 3.0])}).round(3)
        array([-2.197, -0.405, -0.405])
    """
    total = None
    for name, values in components.items():
        spec = _spec(name)
        r = oriented_ranks(values, spec.higher_is_better)
        part = np.log(r / len(r))
        total = part if total is None else total + part
    if total is None:
        raise ValueError("log_rank_sum needs at least one component")
    return total


def population_values(
    spec: ProxySpec, leaf_values: Mapping[str, Sequence[float | None]]
) -> np.ndarray:
    """Final scores of a (population or per-model) proxy over a population.

    ``leaf_values`` maps each leaf proxy name to its raw values over the population (None or
    NaN for failures). A per-model proxy returns its own values; a population proxy combines
    its components (recursively). An architecture whose components all failed gets NaN.
    """
    if not spec.population:
        return np.array([np.nan if v is None else v for v in leaf_values[spec.name]], float)
    comps = {}
    for c in spec.components:
        comps[c] = population_values(_spec(c), leaf_values)
    assert spec.combine is not None
    out = np.asarray(spec.combine(comps), dtype=np.float64)
    all_failed = np.all([~np.isfinite(v) for v in comps.values()], axis=0)
    out[all_failed] = np.nan
    return out


def population_fitness(
    spec: ProxySpec,
    rows: Sequence[Mapping[str, Any] | None],
    *,
    oriented: bool = False,
) -> np.ndarray:
    """Scores of ``spec`` over a population, from each member's leaf results.

    This is the one place where the engine, the evaluation and the strategies turn the leaf
    results of a population into fitness. ``rows[i]`` maps leaf proxy names to architecture
    ``i``'s results: :class:`~nasx.records.ScoreResult` values (a failed one counts as
    missing), plain floats, or None (failed); a missing name or a None row counts as failed.

    Returns the raw scores (NaN for failures), or with ``oriented=True`` the oriented ones
    (higher is better, ``-inf`` for failures). A per-model proxy gives its own values; a
    population proxy combines its components over the whole population
    (:func:`population_values`).
    """
    leaf_values = {
        leaf.name: [_leaf_value((row or {}).get(leaf.name)) for row in rows]
        for leaf in leaf_proxies([spec])
    }
    values = population_values(spec, leaf_values)
    if not oriented:
        return values
    return np.array([spec.oriented(float(x)) if np.isfinite(x) else -np.inf for x in values],
                    dtype=np.float64)


def _leaf_value(r: Any) -> float | None:
    if r is None:
        return None
    ok = getattr(r, "ok", None)
    if ok is not None:  # a ScoreResult
        return r.value if ok else None
    return r
