"""Population-level proxies: scores computed from other proxies' scores over a set of archs.

TE-NAS ranks every architecture of the evaluated population by each of its two components (NTK
condition number, linear-region count) and sums the ranks; ensembles of proxies work the same
way. A population proxy is registered with ``components=[...]`` and a ``combine`` function that
maps ``{component name: array of raw scores over the population}`` to an array of scores.

:func:`leaf_proxies` expands a proxy list into the per-model proxies that must actually be
scored; :func:`population_values` turns the leaf results of a population into the final scores,
and :func:`population_fitness` does it from the rows of results the engine holds. The rank
aggregations (:func:`rank_sum`, :func:`log_rank_sum`, :func:`oriented_ranks`) live in
:mod:`nasx.proxies.ranks`, beside the proxies that combine with them, and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .proxies.base import ProxySpec, get_proxy
from .proxies.ranks import log_rank_sum, oriented_ranks, rank_sum

__all__ = [
    "leaf_proxies",
    "population_values",
    "rank_sum",
    "log_rank_sum",
    "oriented_ranks",
    "population_fitness",
]


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
                visit(get_proxy(c), depth + 1)
        elif spec.name not in seen:
            seen.add(spec.name)
            out.append(spec)

    for n in names:
        visit(get_proxy(n))
    return out


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
        comps[c] = population_values(get_proxy(c), leaf_values)
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
