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
from typing import Any

import numpy as np

from ..arch import Arch
from ..spaces.base import SearchSpace, coerce_options

__all__ = ["Strategy"]


class Strategy(abc.ABC):
    """Base class of search strategies.

    Args:
        space: the search space.
        seed: seed of the strategy's ``np.random.Generator``.
        **opts: strategy options (validated against ``options``).
    """

    name: str = "strategy"
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
    def tell(self, arch: Arch, fitness: float, info: dict[str, Any] | None = None) -> None:
        """Report the oriented fitness (higher is better, ``-inf`` = failed) of an asked arch."""

    def wrap_space(self, space: SearchSpace) -> SearchSpace:
        """The space the scorer builds asked archs with (pruning builds supernets)."""
        return space

    def result(self) -> Arch | None:
        """The strategy's own answer when it has one (pruning); None: best fitness wins."""
        return None

    @property
    def counts_toward_budget(self) -> bool:
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
