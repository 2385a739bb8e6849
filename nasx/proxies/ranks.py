"""Rank aggregations of population proxies (TE-NAS's rank sum, AZ-NAS's log-rank sum).

They rank a population under each component proxy (oriented, failures lowest) and combine the
ranks. They live in the proxies package so that population proxies (``te-nas``, ``az-nas``,
``vkdnw-agg``) combine with them without importing the engine's :mod:`nasx.population`, which
re-exports them (``from nasx.population import rank_sum`` keeps working).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .base import get_proxy

__all__ = ["AGGREGATIONS", "aggregate_ranks", "log_rank_sum", "oriented_ranks", "rank_sum"]

#: how :func:`aggregate_ranks` combines the ranks: their (weighted) sum, or the sum of
#: ``log(r / n)``
AGGREGATIONS = ("rank", "log-rank")


def oriented_ranks(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Ranks 1..n with n the best; NaN/None (failures) share the lowest rank."""
    from scipy.stats import rankdata  # scipy: loaded when a population is ranked

    v = np.asarray(values, dtype=np.float64)
    o = v if higher_is_better else -v
    o = np.where(np.isfinite(o), o, -np.inf)
    return rankdata(o, method="average")


def aggregate_ranks(components: Mapping[str, np.ndarray], aggregation: str = "rank", *,
                    members: Sequence[str] | None = None,
                    weights: Sequence[float] | None = None,
                    orientation: Mapping[str, bool] | None = None) -> np.ndarray:
    """Weighted sum over ``members`` (default: every component, in order) of each
    architecture's oriented rank ``r`` (:func:`oriented_ranks`; ``aggregation="rank"``) or of
    ``log(r / n)`` (``"log-rank"``), ``n`` the population size; higher is better.

    ``weights`` default to 1; ``orientation`` maps a member to ``higher_is_better`` (default:
    the registered proxy's). Every rank aggregation of nasx (:func:`rank_sum`,
    :func:`log_rank_sum`, ensembles) is this function.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown rank aggregation {aggregation!r}; use one of "
                         f"{', '.join(AGGREGATIONS)}")
    names = list(components) if members is None else list(members)
    ws = [1.0] * len(names) if weights is None else [float(w) for w in weights]
    if len(ws) != len(names):
        raise ValueError(f"{len(names)} members but {len(ws)} weights")
    total: np.ndarray | None = None
    for name, w in zip(names, ws):
        up = orientation[name] if orientation is not None else get_proxy(name).higher_is_better
        r = oriented_ranks(np.asarray(components[name], dtype=np.float64), up)
        part = w * (np.log(r / len(r)) if aggregation == "log-rank" else r)
        total = part if total is None else total + part
    if total is None:
        raise ValueError("a rank aggregation needs at least one component")
    return total


def rank_sum(components: Mapping[str, np.ndarray]) -> np.ndarray:
    """Sum over components of each architecture's oriented rank (higher is better)."""
    return aggregate_ranks(components, "rank")


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
    return aggregate_ranks(components, "log-rank")
