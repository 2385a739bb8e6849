"""The strategy plugin interface: ask/tell.

A strategy proposes architectures (``ask``) and learns their fitness (``tell``); it never scores
anything itself, so the same strategy runs unchanged with the sequential executor, one process
per GPU, or a Ray cluster. Fitness is oriented (higher is better); failures arrive as ``-inf``.
Randomness comes from the injected seed only, so a strategy replays identically: this is what
makes every search resumable (a restarted run replays, and the store answers every score it
already has). ``state_dict``/``load_state_dict`` snapshot the strategy for inspection and for
strategies that prefer explicit checkpoints.

Strategies import no torch, so they are testable on toy spaces without it.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..arch import Arch
from ..errors import RegistrationError
from ..records import Evaluation
from ..registry import strategies as _registry
from ..spaces.base import SearchSpace, coerce_options

__all__ = ["Strategy", "told_fitness", "ask_width", "register_strategy"]


def told_fitness(fitness: float, info: Evaluation | Mapping[str, Any] | None
                 ) -> tuple[float, Any, dict[str, float | None] | None]:
    """What a strategy keeps from a ``tell``: the fitness (NaN counts as ``-inf``), and for a
    population proxy its spec and the raw component scores of this architecture (None for
    failures), so the strategy can re-rank over everything told so far.

    ``info`` is the :class:`~nasx.records.Evaluation` the search loop tells; a mapping with the
    same fields (``proxy``, ``results``) is read the same way, for callers that drive a
    strategy by hand."""
    fitness = float(fitness)
    if math.isnan(fitness):
        fitness = -math.inf
    if info is None:
        return fitness, None, None
    if isinstance(info, Evaluation):
        if info.infeasible is not None:  # never scored: nothing to re-rank
            return fitness, None, None
        spec, results = info.proxy, info.results
    else:
        spec, results = info.get("proxy"), info.get("results") or {}
    if spec is None or not getattr(spec, "population", False):
        return fitness, None, None
    leaves = {name: (float(r.value) if getattr(r, "ok", False) else None)
              for name, r in results.items()}
    return fitness, spec, leaves


def ask_width(strategy: Any) -> int:
    """How many architectures the search loop asks ``strategy`` for at once: its ``ask_width``
    (1 for a strategy that does not say)."""
    width = getattr(strategy, "ask_width", 1)
    width = width() if callable(width) else width
    return max(1, int(width))


class Strategy(abc.ABC):
    """Base class of search strategies.

    Args:
        space: the search space.
        seed: seed of the strategy's ``np.random.Generator``.
        **opts: strategy options (validated against ``options``).
    """

    name: str = "strategy"
    #: True for a strategy that ends by itself (``ask`` returns nothing once it has its
    #: answer, e.g. pruning): ``nasx search`` then needs no budget
    converges: bool = False
    #: option name -> (type, default, help)
    options: dict[str, tuple[type, Any, str]] = {}

    def __init__(self, space: SearchSpace, seed: int = 0, **opts: Any) -> None:
        self.space = space
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.opts = coerce_options(f"strategy {self.name}", self.options, opts)

    @abc.abstractmethod
    def ask(self, n: int = 1) -> list[Arch]:
        """Up to ``n`` architectures to evaluate next; an empty list means the strategy is done
        (e.g. a finite space is exhausted, or pruning has converged)."""

    @abc.abstractmethod
    def tell(self, arch: Arch, fitness: float, info: Evaluation | None = None) -> None:
        """Report the oriented fitness (higher is better, ``-inf`` = failed or infeasible) of
        an asked arch; ``info`` is the frozen record of its evaluation (scores of every leaf
        proxy, the fitness proxy, why it was infeasible), read with :func:`told_fitness`."""

    @property
    def ask_width(self) -> int:
        """How many architectures the search loop asks for at once (``ask(ask_width)``, fewer when
        the budget ends). A setting of the strategy, never the executor's width: a search gives
        the same result on one CPU, K processes per GPU or a Ray cluster, because executors only
        decide where the architectures of one ask are scored, in parallel. Default 1; strategies
        with a ``batch`` option use it."""
        return int(self.opts.get("batch", 1))

    def wrap_space(self, space: SearchSpace) -> SearchSpace:
        """The space the scorer builds asked archs with (pruning builds supernets)."""
        return space

    def result(self) -> Arch | None:
        """The strategy's own answer when it has one (pruning); None: best fitness wins."""
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


def register_strategy(name: str, *, replace: bool = False) -> Callable[[type], type]:
    """Class decorator registering a :class:`Strategy` subclass under ``name`` (the one way to
    register a strategy: nasx's own strategies use it too; also ``nasx.register_strategy``)."""

    def wrap(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise RegistrationError(f"strategy {name!r}: {cls!r} must subclass Strategy")
        _registry.add(name, cls, replace=replace)
        return cls

    return wrap
