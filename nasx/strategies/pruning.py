"""Proxy-guided pruning of a supernet, as in TE-NAS.

Paper: Chen, Gong & Wang, "Neural Architecture Search on ImageNet in Four GPU Hours: A
Theoretically Inspired Perspective" (TE-NAS), ICLR 2021, Algorithm 1. Reference implementation
followed: VITA-Group/TENAS ``prune_tenas.py`` (``prune_func_rank`` with ``prune_number=1``).

Definition. Start from the supernet that carries every candidate op on every edge
(``space.edges()``, ``space.candidate_ops(edge)``). Each round scores, for every edge that still
has more than one op and for every op ``o`` left on it, the supernet with ``o`` removed from that
edge (all other edges unchanged). Then, on every such edge, the op whose removal the proxy ranks
best (the removal that leaves the best-scoring supernet, i.e. the least harmful one) is pruned:
one op per edge per round. Rounds repeat until every edge has one op; the result is
``space.from_op_sets(...)`` of the remaining ops (:meth:`PruningSearch.result`).

How supernets flow through the engine: :meth:`PruningSearch.wrap_space` returns a
:class:`SupernetSpace` that builds a supernet candidate with ``space.build_supernet`` and every
ordinary architecture with ``space.build``. A supernet candidate is an :class:`~nasx.arch.Arch` of
the space whose text and key are a JSON list of the op sets in ``space.edges()`` order, e.g.
``{"supernet":[["skip_connect","nor_conv_3x3"],...]}``; it is scored, cached and resumed like
any architecture.

Details that change results, all explicit:

* Ranking within a round. The reference ranks the round's candidates by the change of each
  TE-NAS component relative to the unpruned supernet; the unpruned supernet is the same for all
  candidates of a round, so this ranks them exactly as their own scores do, which is what nasx
  ranks. For a population proxy (``te-nas``) the candidates of one round form the population:
  the proxy's combine (rank aggregation) runs over those candidates only, as the reference's
  ``rankings_sum`` does. Ties go to the first op in ``candidate_ops`` order (the reference's
  stable sort does the same); nasx uses average ranks where the reference uses dense ranks.
* ``exclude="none"`` (default): the ``none`` op is removed before the first round, as the
  reference sets the architecture weight of op 0 (``none``) to ``-inf`` before pruning. Give
  ``exclude=""`` to keep it.
* ``combine="mean"`` (default): an edge's output is the mean of its remaining ops, as the
  reference's softmax over equal architecture weights gives (``"sum"`` adds them). A space whose
  ``build_supernet`` takes no ``combine`` argument builds with its own rule.
* Initialisation. The reference copies one set of initial weights into the unpruned and the
  pruned supernet; nasx scores each candidate supernet from its own seeded initialisation (the
  engine's seed), as it scores any architecture. The reference averages ``repeat`` (3)
  re-initialisations; nasx scores one initialisation per seed.
* Budget. Every supernet scored is one evaluation. On a space with ``E`` edges of ``k`` ops the
  run takes ``E * (k (k + 1) / 2 - 1)`` evaluations (NAS-Bench-201, ``none`` excluded:
  ``6 * 9 = 54``), plus one when ``score_final`` scores the returned cell (default), and ends
  when pruning converges. An evaluation budget below that is an error; a time budget that stops
  the run earlier leaves no result.
* A candidate whose score failed has fitness ``-inf``: its op is never pruned while another
  removal on the same edge scored.
* DARTS-like spaces whose cells keep only some of the incoming edges of a node: TE-NAS prunes
  ops first and then edges per node (``prune_func_rank_group``); this strategy does the op
  phase, and the space's ``from_op_sets`` decides how a one-op-per-edge cell maps to an
  architecture.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..arch import Arch
from ..errors import ConfigError, InvalidArchError, NasxError
from ..registry import strategies as _strategies
from ..spaces.base import SearchSpace
from .base import Strategy, told_fitness

__all__ = ["PruningSearch", "SupernetSpace"]

_PREFIX = '{"supernet":'


class SupernetSpace(SearchSpace):
    """The space a pruning search scores with: ordinary archs of ``base``, plus supernets.

    It has the base space's name, options and input shape, so cached scores of ordinary
    architectures are shared with other searches; supernet keys are JSON and never collide with
    the space's own notation.

    Args:
        base: a space with ``edges``, ``candidate_ops``, ``build_supernet`` and ``from_op_sets``.
        combine: how an edge combines its ops (``"mean"`` or ``"sum"``), passed to
            ``build_supernet`` when it accepts it.
    """

    def __init__(self, base: SearchSpace, combine: str = "mean") -> None:
        self.base = base
        self.name = base.name
        self.opts = base.opts
        self.options = base.options
        self.input_shape = base.input_shape
        self.combine = combine
        self._edges = list(base.edges())
        try:
            params = inspect.signature(base.build_supernet).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtins
            params = {}
        self._pass_combine = "combine" in params

    # -- supernet notation ---------------------------------------------------------------------
    def supernet(self, sets: Sequence[Sequence[str]]) -> Arch:
        """The supernet Arch carrying ``sets[k]`` on edge ``k`` of ``base.edges()``."""
        spec = tuple(tuple(ops) for ops in sets)
        text = _PREFIX + json.dumps([list(ops) for ops in spec], separators=(",", ":")) + "}"
        return Arch(self.name, text, text, spec=spec, meta=(("supernet", True),))

    @staticmethod
    def is_supernet(arch: Arch) -> bool:
        return arch.text.startswith(_PREFIX)

    def op_sets(self, arch: Arch) -> dict[Any, tuple[str, ...]]:
        """Edge -> ops of a supernet Arch."""
        spec = arch.spec if isinstance(arch.spec, tuple) else self.parse(arch.text).spec
        return {e: tuple(ops) for e, ops in zip(self._edges, spec)}

    # -- SearchSpace ---------------------------------------------------------------------------
    def parse(self, text: str) -> Arch:
        t = str(text).strip()
        if not t.startswith(_PREFIX):
            return self.base.parse(t)
        try:
            sets = json.loads(t)["supernet"]
        except (ValueError, KeyError, TypeError):
            raise InvalidArchError(f"invalid supernet {t!r}: expected "
                                   '{"supernet": [[ops of edge 1], ...]}') from None
        if not isinstance(sets, list) or len(sets) != len(self._edges) or not all(
            isinstance(ops, list) and all(isinstance(o, str) for o in ops) for ops in sets
        ):
            raise InvalidArchError(f"invalid supernet {t!r}: expected one list of op names per "
                                   f"edge ({len(self._edges)} edges)")
        return self.supernet(sets)

    def check(self, arch: Arch) -> Arch:
        return arch if self.is_supernet(arch) else self.base.check(arch)

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.base.sample(rng)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        return self.base.mutate(arch, rng)

    def size(self) -> int | None:
        return self.base.size()

    def build(self, arch: Arch, num_classes: int) -> Any:
        if not self.is_supernet(arch):
            return self.base.build(arch, num_classes)
        sets = self.op_sets(arch)
        if self._pass_combine:
            return self.base.build_supernet(sets, num_classes, combine=self.combine)
        return self.base.build_supernet(sets, num_classes)

    def edges(self) -> Sequence[Any]:
        return self.base.edges()

    def candidate_ops(self, edge: Any) -> Sequence[str]:
        return self.base.candidate_ops(edge)

    def build_supernet(self, op_sets: dict[Any, Sequence[str]], num_classes: int) -> Any:
        return self.base.build_supernet(op_sets, num_classes)

    def from_op_sets(self, op_sets: dict[Any, Sequence[str]]) -> Arch:
        return self.base.from_op_sets(op_sets)

    def __getattr__(self, name: str) -> Any:  # index_of, enumerate, ... of the base space
        if name.startswith("_") or name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)


class PruningSearch(Strategy):
    """TE-NAS-style pruning: one op per edge per round, until one op per edge is left.

    Example:
        >>> from nasx.spaces.nasbench201 import NASBench201
        >>> space = NASBench201(C=8, N=1, input_size=8)
        >>> pr = PruningSearch(space, seed=0)
        >>> pr.planned_evaluations
        55
        >>> while True:
        ...     asked = pr.ask(4)
        ...     if not asked:
        ...         break
        ...     for a in asked:  # a toy fitness: fewer ops on the supernet is better
        ...         pr.tell(a, -sum(map(len, a.spec)) if pr.wrapped.is_supernet(a) else 0.0)
        >>> pr.result().space
        'nasbench201'
    """

    name = "pruning"
    options: dict[str, tuple[type, Any, str]] = {  # noqa: RUF012 (declared so by the base)
        "exclude": (str, "none", ("comma-separated ops removed before the first round "
                                  "(TE-NAS removes 'none'); '' keeps every op")),
        "combine": (str, "mean", "how a supernet edge combines its ops: mean (TE-NAS) or sum"),
        "score_final": (bool, True, ("score the returned cell once (one more evaluation) so "
                                     "the result has a proxy score")),
    }
    #: the run ends by itself (convergence); no evaluation budget is needed
    converges = True

    def __init__(self, space: Any, seed: int = 0, **opts: Any) -> None:
        super().__init__(space, seed, **opts)
        if self.opts["combine"] not in ("mean", "sum"):
            raise ConfigError(f"pruning: combine must be 'mean' or 'sum', got "
                              f"{self.opts['combine']!r}")
        try:
            self._edges = list(space.edges())
            cands = [list(space.candidate_ops(e)) for e in self._edges]
        except NotImplementedError:
            raise ConfigError(
                f"space {space.name!r} does not support pruning (it needs edges(), "
                "candidate_ops(edge), build_supernet(op_sets, num_classes) and "
                "from_op_sets(op_sets))"
            ) from None
        if not self._edges:
            raise ConfigError(f"space {space.name!r} has no edges to prune")
        exclude = {o.strip() for o in self.opts["exclude"].split(",") if o.strip()}
        self._sets: list[tuple[str, ...]] = []
        for e, ops in zip(self._edges, cands):
            kept = tuple(o for o in ops if o not in exclude)
            if not kept:
                raise ConfigError(f"pruning: exclude={self.opts['exclude']!r} removes every op "
                                  f"of edge {e!r} (candidates {ops})")
            self._sets.append(kept)
        self.wrapped = SupernetSpace(space, self.opts["combine"])
        self.planned_evaluations = sum(
            len(s) * (len(s) + 1) // 2 - 1 for s in self._sets
        ) + int(self.opts["score_final"])
        self._round = 0
        self._cands: list[tuple[int, str]] = []
        self._keys: dict[str, int] = {}
        self._told: dict[int, tuple[float, dict[str, float | None] | None]] = {}
        self._asked = 0
        self._spec: Any = None
        self._final: Arch | None = None
        self._final_asked = False
        self._final_told = False
        self.history: list[dict[str, Any]] = []  # one entry per round: what was pruned
        self._start_round()

    # -- engine hooks --------------------------------------------------------------------------
    def wrap_space(self, space: SearchSpace) -> SearchSpace:
        if space is not self.space:
            return SupernetSpace(space, self.opts["combine"])
        return self.wrapped

    def result(self) -> Arch | None:
        """The pruned cell once every edge has one op (None before convergence)."""
        return self._final

    @property
    def converged(self) -> bool:
        return self._final is not None

    # -- ask/tell ------------------------------------------------------------------------------
    def _start_round(self) -> None:
        self._cands = [(k, op) for k, ops in enumerate(self._sets) if len(ops) > 1
                       for op in ops]
        self._told, self._asked = {}, 0
        self._keys = {}
        for i, (k, op) in enumerate(self._cands):
            self._keys[self._candidate(k, op).key] = i
        if not self._cands:
            self._final = self.space.from_op_sets(
                {e: ops for e, ops in zip(self._edges, self._sets)}
            )
        else:
            self._round += 1

    def _candidate(self, k: int, op: str) -> Arch:
        sets = list(self._sets)
        sets[k] = tuple(o for o in sets[k] if o != op)
        return self.wrapped.supernet(sets)

    def ask(self, n: int = 1) -> list[Arch]:
        if self._final is not None:
            if self.opts["score_final"] and not self._final_asked:
                self._final_asked = True
                return [self._final]
            return []
        todo = self._cands[self._asked:self._asked + n]
        self._asked += len(todo)
        return [self._candidate(k, op) for k, op in todo]

    def tell(self, arch: Arch, fitness: float, info: dict[str, Any] | None = None) -> None:
        if self._final is not None:
            if arch == self._final:
                self._final_told = True
                return
            raise NasxError(f"pruning: told an architecture it did not ask for: {arch.text}")
        i = self._keys.get(arch.key)
        if i is None or i >= self._asked:
            raise NasxError(f"pruning: told an architecture it did not ask for: {arch.text}")
        fitness, spec, leaves = told_fitness(fitness, info)
        if spec is not None:
            self._spec = spec
        self._told[i] = (fitness, leaves)
        if len(self._told) == len(self._cands):
            self._prune()

    def _round_fitness(self) -> list[float]:
        told = [self._told[i][0] for i in range(len(self._cands))]
        leaves = [self._told[i][1] for i in range(len(self._cands))]
        if self._spec is None or any(v is None for v in leaves):
            return told
        from ..population import population_values

        names = list(leaves[0] or {})
        values = population_values(
            self._spec, {n: [v[n] for v in leaves] for n in names}  # type: ignore[index]
        )
        return [self._spec.oriented(float(v)) if np.isfinite(v) else -math.inf for v in values]

    def _prune(self) -> None:
        fitness = self._round_fitness()
        best: dict[int, int] = {}
        for i, (k, _) in enumerate(self._cands):
            if k not in best or fitness[i] > fitness[best[k]]:
                best[k] = i
        pruned = {}
        for k, i in best.items():
            op = self._cands[i][1]
            self._sets[k] = tuple(o for o in self._sets[k] if o != op)
            pruned[str(self._edges[k])] = op
        self.history.append({"round": self._round, "pruned": pruned})
        self._start_round()

    # -- inspection ----------------------------------------------------------------------------
    @property
    def op_sets(self) -> dict[Any, tuple[str, ...]]:
        """The ops left on every edge."""
        return {e: ops for e, ops in zip(self._edges, self._sets)}

    def progress(self) -> str:
        """One line on the state of the search (shown by ``nasx search``)."""
        if self._final is not None:
            return f"pruning: converged after {self._round} rounds"
        open_edges = sum(len(s) > 1 for s in self._sets)
        return (f"pruning: round {self._round}, {len(self._told)}/{len(self._cands)} "
                f"supernets, {open_edges} edges undecided, "
                f"{sum(map(len, self._sets))} ops left")

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "sets": [list(s) for s in self._sets],
            "round": self._round,
            "asked": self._asked,
            "told": {str(i): [f, v] for i, (f, v) in self._told.items()},
            "final_asked": self._final_asked,
            "final_told": self._final_told,
            "history": list(self.history),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._sets = [tuple(s) for s in state["sets"]]
        self._final = None
        self._start_round()
        self._round = int(state["round"])
        self._asked = int(state["asked"])
        self._told = {int(i): (float(f), v) for i, (f, v) in state["told"].items()}
        self._final_asked = bool(state["final_asked"])
        self._final_told = bool(state["final_told"])
        self.history = list(state["history"])


_strategies.add("pruning", PruningSearch)
