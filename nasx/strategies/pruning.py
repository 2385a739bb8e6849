"""Proxy-guided pruning of a supernet, as in TE-NAS: an op phase, then an edge phase.

Paper: Chen, Gong & Wang, "Neural Architecture Search on ImageNet in Four GPU Hours: A
Theoretically Inspired Perspective" (TE-NAS), ICLR 2021, Algorithm 1 and its DARTS search.
Reference implementation followed: VITA-Group/TENAS ``prune_tenas.py`` (``prune_func_rank`` for
the op phase, ``prune_func_rank_group`` for the edge phase, ``main`` for their order).

Op phase (every space with ``edges()`` / ``candidate_ops(edge)`` / ``build_supernet`` /
``from_op_sets``). Start from the supernet that carries every candidate op on every edge. Each
round scores, for every edge that still has more than one op and for every op ``o`` left on it,
the supernet with ``o`` removed from that edge (all other edges unchanged). Then, on every such
edge, the ``prune_number`` ops whose removal the proxy ranks best (the removals that leave the
best-scoring supernets, i.e. the least harmful ones) are pruned, never the last op of an edge.
Rounds repeat until every edge has one op.

Edge phase (spaces that also have ``edge_groups()``: DARTS and the NDS families, whose nodes keep
two of their incoming edges). After the op phase every edge has one op. The groups (the incoming
edges of one node; normal cell first, then node 2, 3, ...) are visited in order, one round per
group that has more present edges than it keeps: the round scores, for every present edge of the
group, the supernet with that edge removed (its op set emptied: the edge gives zeros, as the
reference's fully masked edge), and then removes, in one step, all the group's edges but the
``keep`` (2) whose removal the proxy ranks *worst* (most harmful). This is the reference's
``rankings_sum[:-num_per_group]``: candidates sorted from least to most harmful removal, all
but the last two pruned. Groups that already have two edges (node 2) are skipped, as there.
Later groups are scored on the supernet with the earlier groups already pruned (the reference
updates ``arch_parameters`` after each group). An edge whose only op left is ``none`` (only
with ``exclude=""``) counts as absent. The result is ``space.from_op_sets(...)``: a DARTS
``Genotype(...)`` whose nodes have two distinct inputs (:meth:`PruningSearch.result`).

Evaluations on DARTS (28 edges of 7 ops once ``none`` is excluded, ``prune_number=1``): the op
phase scores ``28 * (7 + 6 + ... + 2) = 756`` supernets in 6 rounds, the edge phase
``2 * (3 + 4 + 5) = 24`` in 6 rounds, plus one for the returned genotype (``score_final``): 781.

How supernets flow through the search loop: :meth:`PruningSearch.wrap_space` returns a
:class:`SupernetSpace` that builds a supernet candidate with ``space.build_supernet`` and every
ordinary architecture with ``space.build``. A supernet candidate is an :class:`~nasx.arch.Arch` of
the space whose text and key are JSON: the op sets in ``space.edges()`` order and, where the
space's ``build_supernet`` takes it, the ``combine`` rule, e.g.
``{"supernet":[["skip_connect","nor_conv_3x3"],...],"combine":"mean"}``. The key thus holds
everything of the strategy that changes a supernet's network (the op sets and ``combine``;
``exclude``, ``prune_number`` and ``score_final`` only change *which* supernets are asked); the
store adds the space's options, proxy, data, seed and device. It is scored, cached and resumed
like any architecture: a killed run replays its asks and the store answers the scores it holds.

Asks: every round is asked whole, whatever ``n`` the loop passes to :meth:`ask` (its executor's
width): the batches are fixed by the strategy's own state, so every executor sees the same
asks in the same order. ``ask_size=N`` asks a round in slices of at most ``N`` supernets
instead; the supernets, their order and the result are the same, but an executor that stores
scores once a batch is done then loses at most ``N`` scores when the run is killed, and a time
budget can stop the run inside a round (large DARTS rounds hold 196 supernets).

Details that change results, all explicit:

* Ranking within a round. The reference ranks the round's candidates by the change of each
  TE-NAS component relative to the unpruned supernet; the unpruned supernet is the same for all
  candidates of a round, so this ranks them exactly as their own scores do, which is what nasx
  ranks. For a population proxy (``te-nas``) the candidates of one round form the population:
  the proxy's combine (rank aggregation) runs over those candidates only, as the reference's
  ``rankings_sum`` does (over all edges' ops in the op phase, over one group in the edge
  phase). Ties: in the op phase the first op in ``candidate_ops`` order is pruned first (the
  reference's stable sort does the same); in the edge phase the edge from the higher input
  node is pruned first (the lower one is kept). nasx uses average ranks where the reference
  uses dense ranks.
* ``exclude="none"`` (default): the ``none`` op is removed before the first round, as the
  reference sets the architecture weight of op 0 (``none``) to ``-inf`` before pruning. Give
  ``exclude=""`` to keep it.
* ``combine="mean"`` (default): an edge's output is the mean of its remaining ops, as the
  reference's softmax over equal architecture weights gives (``"sum"`` adds them). A space whose
  ``build_supernet`` takes no ``combine`` argument builds with its own rule.
* ``prune_number=1`` (default, the reference's ``--prune_number``): ops pruned per edge and round
  in the op phase (at most all but one).
* Initialisation. The reference copies one set of initial weights into the unpruned and the
  pruned supernet; nasx scores each candidate supernet from its own seeded initialisation (the
  run's seed), as it scores any architecture. The reference averages ``repeat`` (3)
  re-initialisations; nasx scores one initialisation per seed.
* Search network. The supernet has the space's own options (e.g. ``--space-opt C=1 --space-opt
  layers=3`` for DARTS). TE-NAS's DARTS search network is smaller than nasx's default: ``C=1``,
  one normal and one reduction cell, stem multiplier 1 (``prune_tenas.py`` ``model_config``);
  nasx's DARTS network has stem multiplier 3 and places reductions at ``layers // 3`` and
  ``2 * layers // 3``, so ``layers=3`` (normal, reduction, reduction) is its nearest size.
* Budget. Every supernet scored is one evaluation (:attr:`PruningSearch.planned_evaluations`,
  exact unless ``none`` is kept, then an upper bound). An evaluation budget below that is an
  error; a time budget that stops the run earlier leaves no result.
* A candidate whose score failed has fitness ``-inf``: its op (edge) is never pruned while
  another removal in the same edge (group) scored.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..arch import Arch
from ..errors import ConfigError, InvalidArchError, NasxError
from ..records import Evaluation
from ..spaces.base import SearchSpace
from .base import Strategy, register_strategy, told_fitness

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
            ``build_supernet`` when it accepts it; it is then part of every supernet's key.
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
    def supernet(self, sets: Sequence[Sequence[str]], combine: str | None = None) -> Arch:
        """The supernet Arch carrying ``sets[k]`` on edge ``k`` of ``base.edges()``, its ops
        combined by ``combine`` (default: this space's)."""
        combine = self.combine if combine is None else combine
        spec = tuple(tuple(ops) for ops in sets)
        body: dict[str, Any] = {"supernet": [list(ops) for ops in spec]}
        if self._pass_combine:
            body["combine"] = combine
        text = json.dumps(body, separators=(",", ":"))
        return Arch(self.name, text, text, spec=spec,
                    meta=(("supernet", True), ("combine", combine)))

    @staticmethod
    def is_supernet(arch: Arch) -> bool:
        return arch.text.startswith(_PREFIX)

    def op_sets(self, arch: Arch) -> dict[Any, tuple[str, ...]]:
        """Edge -> ops of a supernet Arch."""
        spec = arch.spec if isinstance(arch.spec, tuple) else self.parse(arch.text).spec
        return {e: tuple(ops) for e, ops in zip(self._edges, spec)}

    def combine_of(self, arch: Arch) -> str:
        """The ``combine`` rule a supernet Arch is built with."""
        meta = dict(arch.meta)
        if "combine" not in meta:
            meta = dict(self.parse(arch.text).meta)
        return str(meta.get("combine", self.combine))

    # -- SearchSpace ---------------------------------------------------------------------------
    def parse(self, text: str) -> Arch:
        t = str(text).strip()
        if not t.startswith(_PREFIX):
            return self.base.parse(t)
        try:
            obj = json.loads(t)
            sets = obj["supernet"]
            combine = obj.get("combine", self.combine)
            extra = set(obj) - {"supernet", "combine"}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InvalidArchError(f"invalid supernet {t!r}: expected "
                                   '{"supernet": [[ops of edge 1], ...], "combine": '
                                   '"mean"|"sum"}') from None
        if extra or combine not in ("mean", "sum"):
            raise InvalidArchError(f"invalid supernet {t!r}: only the fields 'supernet' and "
                                   "'combine' ('mean' or 'sum') are allowed")
        if not isinstance(sets, list) or len(sets) != len(self._edges) or not all(
            isinstance(ops, list) and all(isinstance(o, str) for o in ops) for ops in sets
        ):
            raise InvalidArchError(f"invalid supernet {t!r}: expected one list of op names per "
                                   f"edge ({len(self._edges)} edges)")
        return self.supernet(sets, combine)

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
            return self.base.build_supernet(sets, num_classes, combine=self.combine_of(arch))
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


@register_strategy("pruning")
class PruningSearch(Strategy):
    """TE-NAS-style pruning: ops until one per edge is left, then edges down to two per node.

    Example:
        >>> from nasx.spaces.nasbench201 import NASBench201
        >>> space = NASBench201(C=8, N=1, input_size=8)
        >>> pr = PruningSearch(space, seed=0)
        >>> pr.planned_evaluations
        55
        >>> while True:
        ...     asked = pr.ask(4)  # a whole round, whatever the width asked for
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
        "prune_number": (int, 1, ("ops pruned per edge and round in the op phase "
                                  "(TE-NAS --prune_number)")),
        "score_final": (bool, True, ("score the returned cell once (one more evaluation) so "
                                     "the result has a proxy score")),
        "ask_size": (int, 0, ("supernets asked at a time: 0 asks each round whole; N > 0 at "
                              "most N (same asks, same order, same result)")),
    }
    #: the run ends by itself (convergence); no evaluation budget is needed
    converges = True

    def __init__(self, space: Any, seed: int = 0, **opts: Any) -> None:
        super().__init__(space, seed, **opts)
        if self.opts["combine"] not in ("mean", "sum"):
            raise ConfigError(f"pruning: combine must be 'mean' or 'sum', got "
                              f"{self.opts['combine']!r}")
        if self.opts["ask_size"] < 0:
            raise ConfigError(f"pruning: ask_size must be >= 0, got {self.opts['ask_size']}")
        if self.opts["prune_number"] < 1:
            raise ConfigError(f"pruning: prune_number must be >= 1, got "
                              f"{self.opts['prune_number']}")
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
        known_ops = {o for ops in cands for o in ops}
        # 'none' (the default) may be absent: some spaces (NDS Amoeba) have no none op
        unknown = sorted(exclude - known_ops - {"none"})
        if unknown:
            raise ConfigError(f"pruning: exclude names no candidate op of space "
                              f"{space.name!r}: {', '.join(map(repr, unknown))}; its ops: "
                              f"{', '.join(sorted(known_ops))}")
        self._sets: list[tuple[str, ...]] = []
        for e, ops in zip(self._edges, cands):
            kept = tuple(o for o in ops if o not in exclude)
            if not kept:
                raise ConfigError(f"pruning: exclude={self.opts['exclude']!r} removes every op "
                                  f"of edge {e!r} (candidates {ops})")
            self._sets.append(kept)
        most = max(len(ops) for ops in self._sets) - 1  # an edge keeps at least one op
        if self.opts["prune_number"] > max(1, most):
            raise ConfigError(f"pruning: prune_number={self.opts['prune_number']} is more than "
                              f"the {most} op(s) an edge can lose in a round (the largest edge "
                              f"has {most + 1} candidates); give 1..{max(1, most)}")
        index = {e: k for k, e in enumerate(self._edges)}
        groups = getattr(space, "edge_groups", None)
        self._groups: list[tuple[list[int], int]] = []
        for edges, keep in (groups() if callable(groups) else []):
            self._groups.append(([index[tuple(e) if isinstance(e, list) else e]
                                  for e in edges], int(keep)))
        self.wrapped = SupernetSpace(space, self.opts["combine"])
        p = self.opts["prune_number"]
        planned = 0
        for ops in self._sets:
            m = len(ops)
            while m > 1:
                planned += m
                m -= min(p, m - 1)
        planned += sum(len(g) for g, keep in self._groups if len(g) > keep)
        self.planned_evaluations = planned + int(self.opts["score_final"])
        self._phase = "ops"
        self._round = 0
        self._group = 0  # next edge group to visit in the edge phase
        self._cands: list[tuple[int, str | None]] = []
        self._keys: dict[str, int] = {}
        self._told: dict[int, tuple[float, dict[str, float | None] | None]] = {}
        self._asked = 0
        self._spec: Any = None
        self._final: Arch | None = None
        self._final_asked = False
        self._final_told = False
        self.history: list[dict[str, Any]] = []  # one entry per round: what was pruned
        self._start_round()

    # -- search-loop hooks-----------------------------------------------------------------------
    def wrap_space(self, space: SearchSpace) -> SearchSpace:
        if space is not self.space:
            return SupernetSpace(space, self.opts["combine"])
        return self.wrapped

    def result(self) -> Arch | None:
        """The pruned cell once pruning has converged (None before)."""
        return self._final

    @property
    def converged(self) -> bool:
        return self._final is not None

    # -- ask/tell ------------------------------------------------------------------------------
    def _present(self, k: int) -> bool:
        """Whether edge ``k`` still feeds its node (an op other than ``none`` is left)."""
        return any(o != "none" for o in self._sets[k])

    def _start_round(self) -> None:
        self._told, self._asked, self._keys, self._cands = {}, 0, {}, []
        if self._phase == "ops":
            self._cands = [(k, op) for k, ops in enumerate(self._sets) if len(ops) > 1
                           for op in ops]
            if not self._cands:
                self._phase = "edges"
                self._group = 0
        if self._phase == "edges":
            while self._group < len(self._groups):
                group, keep = self._groups[self._group]
                present = [k for k in group if self._present(k)]
                if len(present) > keep:
                    self._cands = [(k, None) for k in present]
                    break
                self._group += 1
            if not self._cands:
                self._phase = "done"
        if self._phase == "done":
            sets = self._sets
            if self._groups:  # an edge left with `none` only is an absent edge
                sets = [s if self._present(k) else () for k, s in enumerate(sets)]
            self._final = self.space.from_op_sets(dict(zip(self._edges, sets)))
            return
        for i, (k, op) in enumerate(self._cands):
            self._keys[self._candidate(k, op).key] = i
        self._round += 1

    def _candidate(self, k: int, op: str | None) -> Arch:
        sets = list(self._sets)
        sets[k] = () if op is None else tuple(o for o in sets[k] if o != op)
        return self.wrapped.supernet(sets)

    def ask(self, n: int = 1) -> list[Arch]:
        """The rest of the current round (at most ``ask_size`` supernets of it when that
        option is set), or the final cell once.

        ``n`` is ignored: the batches depend on the strategy's own state and options only,
        never on the loop's or executor's width.
        """
        if self._final is not None:
            if self.opts["score_final"] and not self._final_asked:
                self._final_asked = True
                return [self._final]
            return []
        size = self.opts["ask_size"]
        todo = self._cands[self._asked:self._asked + size if size else None]
        self._asked += len(todo)
        return [self._candidate(k, op) for k, op in todo]

    def tell(self, arch: Arch, fitness: float, info: Evaluation | None = None) -> None:
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
        from ..population import population_fitness  # scipy: loaded when needed

        return [float(x) for x in population_fitness(self._spec, leaves, oriented=True)]

    def _prune(self) -> None:
        fitness = self._round_fitness()
        entry: dict[str, Any] = {"phase": self._phase, "round": self._round}
        if self._phase == "ops":
            per_edge: dict[int, list[int]] = {}
            for i, (k, _) in enumerate(self._cands):
                per_edge.setdefault(k, []).append(i)
            pruned: dict[str, list[str]] = {}
            for k, idx in per_edge.items():
                # best removals first; ties keep candidate (candidate_ops) order
                order = sorted(idx, key=lambda i: -fitness[i])
                drop = [self._cands[i][1] for i in order[:min(self.opts["prune_number"],
                                                               len(idx) - 1)]]
                self._sets[k] = tuple(o for o in self._sets[k] if o not in drop)
                pruned[str(self._edges[k])] = drop  # type: ignore[assignment]
            entry["pruned"] = {e: (ops[0] if len(ops) == 1 else ops)
                               for e, ops in pruned.items()}
        else:
            group, keep = self._groups[self._group]
            # least harmful removal first; ties: the edge from the higher input node first
            order = sorted(range(len(self._cands)),
                           key=lambda i: (-fitness[i], -self._cands[i][0]))
            removed = [self._cands[i][0] for i in order[:len(self._cands) - keep]]
            for k in removed:
                self._sets[k] = ()
            entry["removed_edges"] = [str(self._edges[k]) for k in sorted(removed)]
            entry["kept_edges"] = [str(self._edges[k]) for k in group if self._present(k)]
            self._group += 1
        self.history.append(entry)
        self._start_round()

    # -- inspection ----------------------------------------------------------------------------
    @property
    def op_sets(self) -> dict[Any, tuple[str, ...]]:
        """The ops left on every edge (empty: an edge removed in the edge phase)."""
        return {e: ops for e, ops in zip(self._edges, self._sets)}

    @property
    def phase(self) -> str:
        """``"ops"``, ``"edges"`` or ``"done"``."""
        return self._phase

    def progress(self) -> str:
        """One line on the state of the search (shown by ``nasx search``): phase, round, the
        supernets of the round told so far and what is left to prune."""
        if self._final is not None:
            return f"pruning: converged after {self._round} rounds"
        head = (f"pruning: {self._phase} phase, round {self._round}, "
                f"{len(self._told)}/{len(self._cands)} supernets")
        if self._phase == "ops":
            open_edges = sum(len(s) > 1 for s in self._sets)
            return (f"{head}, {open_edges} edges undecided, "
                    f"{sum(map(len, self._sets))} ops left")
        group, keep = self._groups[self._group]
        left = sum(1 for g, kp in self._groups[self._group:]
                   if sum(self._present(k) for k in g) > kp)
        node = self._edges[group[0]]
        where = f"node {node[2]} of the {node[0]} cell" if isinstance(node, tuple) and \
            len(node) == 3 else f"group {self._group + 1}"
        return (f"{head}, {where}: {len(self._cands)} edges -> {keep}, "
                f"{left} node(s) left to prune")

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "sets": [list(s) for s in self._sets],
            "phase": self._phase,
            "group": self._group,
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
        self._phase = str(state.get("phase", "ops"))
        self._group = int(state.get("group", 0))
        self._final = None
        self._start_round()
        self._round = int(state["round"])
        self._asked = int(state["asked"])
        self._told = {int(i): (float(f), v) for i, (f, v) in state["told"].items()}
        self._final_asked = bool(state["final_asked"])
        self._final_told = bool(state["final_told"])
        self.history = list(state["history"])
