"""Rank aggregations of population proxies (TE-NAS's rank sum, AZ-NAS's log-rank sum).

They rank a population under each component proxy (oriented, failures lowest) and combine the
ranks. They live in the proxies package so that population proxies (``te-nas``, ``az-nas``,
``vkdnw-agg``) combine with them without importing the engine's :mod:`nasx.population`, which
re-exports them (``from nasx.population import rank_sum`` keeps working).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import rankdata

from .base import get_proxy

__all__ = ["log_rank_sum", "oriented_ranks", "rank_sum"]


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
