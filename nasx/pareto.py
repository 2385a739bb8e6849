"""The Pareto front of evaluated architectures: fitness (higher is better) against costs
(params, FLOPs, latency: lower is better).

An architecture is on the front (non-dominated) when no other one is at least as fit and at
most as costly in every objective, and strictly better in one. Two architectures with equal
values do not dominate each other: both stay. Points whose fitness is not finite (failed or
infeasible) or that lack a cost are left out.

* :func:`pareto_front`: the front of given points (``(arch, fitness, {cost: value})``);
* :func:`search_front`: measures the costs of evaluated architectures (cached, through the
  :class:`~nasx.constraints.ConstraintChecker`, so the units are the constraints': parameter
  count, FLOPs per image, milliseconds) and returns their front;
* :func:`nasx.plot.plot_pareto` draws it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["ParetoPoint", "pareto_front", "search_front"]


@dataclass(frozen=True)
class ParetoPoint:
    """One evaluated architecture: its text, oriented fitness (higher is better) and costs."""

    arch: str
    fitness: float
    costs: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "costs", MappingProxyType(dict(self.costs)))

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "fitness": self.fitness, **dict(self.costs)}


def _point(p: ParetoPoint | Sequence[Any]) -> ParetoPoint:
    if isinstance(p, ParetoPoint):
        return p
    arch, fitness, costs = p
    return ParetoPoint(str(arch), float(fitness), dict(costs))


def pareto_front(points: Iterable[ParetoPoint | Sequence[Any]],
                 objectives: Sequence[str] = ("params",)) -> list[ParetoPoint]:
    """The non-dominated points, fittest first (ties: cheaper in the first objective first).

    Args:
        points: :class:`ParetoPoint` values or ``(arch, fitness, {cost: value})`` triples;
            fitness oriented so that higher is better.
        objectives: the costs (lower is better) the front is taken over; each point needs
            them (a point missing one, or with a non-finite value, is left out).

    Example:
        >>> pts = [("a", 0.9, {"params": 5}), ("b", 0.8, {"params": 2}),
        ...        ("c", 0.7, {"params": 3}), ("d", 0.9, {"params": 6})]
        >>> [p.arch for p in pareto_front(pts)]
        ['a', 'b']
    """
    objectives = tuple(objectives)
    kept = []
    for p in map(_point, points):
        if not math.isfinite(p.fitness):
            continue
        try:
            vals = [float(p.costs[o]) for o in objectives]
        except KeyError:
            continue
        if all(math.isfinite(v) for v in vals):
            kept.append((p, vals))
    if not kept:
        return []
    # minimise every column: -fitness and the costs
    m = np.array([[-p.fitness, *vals] for p, vals in kept], dtype=float)
    on_front = np.ones(len(m), dtype=bool)
    for i in range(len(m)):
        no_worse = np.all(m <= m[i], axis=1)
        better = np.any(m < m[i], axis=1)
        if np.any(no_worse & better):
            on_front[i] = False
    front = [kept[i] for i in np.flatnonzero(on_front)]
    front.sort(key=lambda pv: (-pv[0].fitness, *pv[1]))
    return [p for p, _ in front]


def search_front(space: Any, archs: Sequence[Any], fitness: Sequence[float],
                 objectives: Sequence[str] = ("params",), *, num_classes: int = 10,
                 store: Any = None, device: Any = "cpu",
                 latency_opts: Mapping[str, Any] | None = None) -> list[ParetoPoint]:
    """The Pareto front of evaluated architectures of ``space``, their costs measured by a
    :class:`~nasx.constraints.ConstraintChecker` (cached in ``store``; latency on ``device``).

    Args:
        space: the space object.
        archs: the evaluated architectures (Arch values).
        fitness: their oriented fitness (higher is better; ``-inf`` for failures); an
            architecture listed again (asked twice by a strategy) counts once, with its first
            fitness.
        objectives: costs among ``params``, ``flops`` and ``latency``.
        num_classes: classifier outputs of the measured networks (the search's classes).
        store / device / latency_opts: as for the checker.
    """
    from .constraints import QUANTITIES, ConstraintChecker, Constraints

    objectives = tuple(objectives)
    bad = [o for o in objectives if o not in QUANTITIES]
    if bad or not objectives:
        raise ConfigError(f"Pareto objectives must be among {', '.join(QUANTITIES)}; got "
                          f"{list(objectives)}")
    if len(archs) != len(fitness):
        raise ConfigError(f"{len(archs)} architectures but {len(fitness)} fitness values")
    checker = ConstraintChecker(space, Constraints(), num_classes, store=store, device=device,
                                latency_opts=latency_opts)
    points = []
    seen: set[str] = set()
    for a, f in zip(archs, fitness):
        f = float(f)
        key = getattr(a, "key", str(a))
        # failures are never on the front (not measured); an arch evaluated again counts once
        if math.isfinite(f) and key not in seen:
            seen.add(key)
            points.append(ParetoPoint(str(a), f, checker.measure(a, objectives)))
    return pareto_front(points, objectives)
