"""Regularized (aging) evolution.

Paper: Real, Aggarwal, Huang & Le, "Regularized Evolution for Image Classifier Architecture
Search", AAAI 2019 (Algorithm 1). Reference implementation followed for NAS-Bench-201: Dong &
Yang's REA baseline, AutoDL-Projects ``exps/NAS-Bench-201-algos/R_EA.py``
(``regularized_evolution``), run by its scripts with population 10 and tournament sample 3.

Definition. The first ``population`` architectures are uniform random samples from the space.
After that every child is made as follows: draw ``sample`` members of the current population
uniformly *with replacement*; the parent is the fittest of them (the first drawn among equals);
the child is ``space.mutate(parent)`` (one elementary change: on NAS-Bench-201 one edge gets a
different op). Once the child's fitness is told, it joins the population and the *oldest* member
leaves (aging: a member dies of age, never of low fitness).

Details that change results, all explicit:

* ``sample`` larger than ``population`` is allowed (the draws are with replacement) and warns:
  the tournament then picks the fittest member almost surely (greedy selection).
* Defaults ``population=10, sample=3`` are those of the NAS-Bench-201 REA baseline (Dong & Yang,
  ICLR 2020); Real et al. used much larger values (population 100, sample 25) for trained
  networks on NASNet's space.
* Duplicates are not avoided (as in the reference): a child equal to an earlier architecture is
  asked again; the store answers it without recomputing, but it counts as an evaluation.
* Failures and infeasible architectures (fitness ``-inf``) join the population like any child
  and age out; they win a tournament only when every drawn member has ``-inf``.
* Batched asks (``ask(n)`` with ``n > 1``): the children of one batch come from independent
  tournaments over the same population (the synchronous form of the paper's parallel workers),
  and join it in ask order when told. The search loop asks ``batch`` at a time (default 1, the
  sequential algorithm of the reference); the batch is a setting of the run, never the
  executor's width, so the same settings give the same run on one CPU or a cluster, and a
  larger ``batch`` lets a parallel executor score that many children at once. While the
  initial population is being filled, ``ask`` returns only the missing random members;
  children are made once all of them are told.
* Population proxies (``te-nas``): a member's fitness is re-ranked over every architecture told
  so far before each tournament (the search loop tells the component scores in each
  :class:`~nasx.records.Evaluation`), so early and late members are compared on one scale.

Randomness comes from the strategy's seeded ``np.random.Generator`` only: one seed and one
sequence of told fitness values give one run, which is what makes searches resumable by replay.
"""

from __future__ import annotations

import warnings
from collections import deque
from typing import Any

from ..arch import Arch
from ..errors import ConfigError
from ..records import Evaluation
from .base import Strategy, register_strategy, told_fitness

__all__ = ["RegularizedEvolution"]


@register_strategy("evolution")
class RegularizedEvolution(Strategy):
    """Regularized (aging) evolution with tournament selection.

    Example:
        >>> from nasx.testing.toy import ToySpace
        >>> space = ToySpace(length=4, choices=3)
        >>> ev = RegularizedEvolution(space, seed=0, population=4, sample=2)
        >>> for _ in range(30):
        ...     for a in ev.ask(1):
        ...         ev.tell(a, space.fitness(a))
        >>> len(ev.population)
        4
    """

    name = "evolution"
    options: dict[str, tuple[type, Any, str]] = {  # noqa: RUF012 (declared so by the base)
        "population": (int, 10, "population size P (NAS-Bench-201 REA baseline: 10)"),
        "sample": (int, 3, "tournament sample size S, drawn with replacement (baseline: 3)"),
        "batch": (int, 1, "children asked for at once, from independent tournaments over the "
                  "same population (1: the sequential algorithm; more lets parallel executors "
                  "score them at once, and changes the run)"),
    }

    def __init__(self, space: Any, seed: int = 0, **opts: Any) -> None:
        super().__init__(space, seed, **opts)
        if self.opts["population"] < 1:
            raise ConfigError(f"evolution: population must be >= 1, got "
                              f"{self.opts['population']}")
        if self.opts["sample"] < 1:
            raise ConfigError(f"evolution: sample must be >= 1, got {self.opts['sample']}")
        if self.opts["batch"] < 1:
            raise ConfigError(f"evolution: batch must be >= 1, got {self.opts['batch']}")
        if self.opts["sample"] > self.opts["population"]:
            # legal (draws are with replacement) but rarely meant: say what it does
            warnings.warn(f"evolution: the tournament sample ({self.opts['sample']}) is larger "
                          f"than the population ({self.opts['population']}); draws are with "
                          "replacement, so nearly every tournament picks the fittest member",
                          UserWarning, stacklevel=2)
        # every told architecture, in tell order: (arch, told fitness, leaf raw values)
        self._history: list[tuple[Arch, float, dict[str, float | None] | None]] = []
        #: indices into the history of the current population, oldest first
        self._population: deque[int] = deque()
        self._asked_initial = 0
        self._pending = 0
        self._spec: Any = None  # the population proxy, when fitness is re-ranked

    # -- ask/tell ------------------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Arch]:
        size = self.opts["population"]
        if self._asked_initial < size:
            k = min(n, size - self._asked_initial)
            self._asked_initial += k
            self._pending += k
            return [self.space.sample(self.rng) for _ in range(k)]
        if not self._population:  # initial members asked but none told yet
            return []
        fitness = self._fitness()
        members = list(self._population)
        out = []
        for _ in range(n):
            draws = self.rng.integers(0, len(members), size=self.opts["sample"])
            parent = max((members[int(d)] for d in draws), key=lambda i: fitness[i])
            out.append(self.space.mutate(self._history[parent][0], self.rng))
        self._pending += len(out)
        return out

    def tell(self, arch: Arch, fitness: float, info: Evaluation | None = None) -> None:
        fitness, spec, leaves = told_fitness(fitness, info)
        if spec is not None:
            self._spec = spec
        self._history.append((arch, fitness, leaves))
        self._population.append(len(self._history) - 1)
        if len(self._population) > self.opts["population"]:
            self._population.popleft()
        self._pending = max(0, self._pending - 1)

    def _fitness(self) -> list[float]:
        """Fitness of every told architecture (re-ranked for a population proxy)."""
        told = [f for _, f, _ in self._history]
        if self._spec is None or not any(v for _, _, v in self._history):
            return told
        from ..population import population_fitness  # scipy: loaded when needed

        values = population_fitness(self._spec, [v for _, _, v in self._history],
                                    oriented=True)
        return [float(x) if v is not None else f for x, (_, f, v) in zip(values, self._history)]

    # -- inspection ----------------------------------------------------------------------------
    @property
    def population(self) -> list[tuple[Arch, float]]:
        """The current population, oldest first, with the fitness told for each member."""
        return [(self._history[i][0], self._history[i][1]) for i in self._population]

    def progress(self) -> str:
        """One line on the state of the search (shown by ``nasx search``)."""
        size = self.opts["population"]
        if len(self._history) < size:
            return f"evolution: initial population {len(self._history)}/{size}"
        return (f"evolution: {len(self._history) - size} children, population {size}, "
                f"tournament {self.opts['sample']}")

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "history": [(a.text, f, v) for a, f, v in self._history],
            "population": list(self._population),
            "asked_initial": self._asked_initial,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._history = [(self.space.parse(t), float(f), v) for t, f, v in state["history"]]
        self._population = deque(int(i) for i in state["population"])
        self._asked_initial = int(state["asked_initial"])
        self._pending = 0
