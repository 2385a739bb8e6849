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

import numpy as np
from scipy.stats import rankdata

from .proxies.base import ProxySpec, get_proxy

__all__ = [
    "leaf_proxies",
    "population_values",
    "rank_sum",
    "log_rank_sum",
    "oriented_ranks",
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
        spec = get_proxy(name)
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
        spec = get_proxy(name)
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
        comps[c] = population_values(get_proxy(c), leaf_values)
    assert spec.combine is not None
    out = np.asarray(spec.combine(comps), dtype=np.float64)
    all_failed = np.all([~np.isfinite(v) for v in comps.values()], axis=0)
    out[all_failed] = np.nan
    return out
