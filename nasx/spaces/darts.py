"""The DARTS cell search space (also the cell space of NAS-Bench-301).

DARTS (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019) searches a
normal and a reduction cell. A cell has two input nodes (0 and 1: the outputs of the two previous
cells) and four intermediate nodes 2..5. Node ``j`` sums two ops, each applied to an earlier node
``i < j``; the cell output concatenates nodes 2, 3, 4, 5. The selectable ops are
``max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3,
dil_conv_5x5`` (DARTS's ``PRIMITIVES`` less ``none``, which only the supernet uses).

Inputs of a node are two *distinct* earlier nodes. That is how DARTS derives a genotype
(``model_search.py`` ``genotype()`` keeps the two strongest *edges* into each node, one op per
edge) and how NAS-Bench-301's configuration space is defined (``inputs_node_normal_3`` is one of
``0_1, 0_2, 1_2``); the published DARTS genotypes have distinct inputs too. Hence each cell has
``1 * 3 * 6 * 10 = 180`` wirings and ``7**8`` op choices (about 1.0e9 cells, 1.1e18 pairs).

Genotypes outside the space (space option ``allow_none=true``). Genotypes written by other
tools may contain ``none`` ops (e.g. derived from a supernet whose strongest edges include
``none``) or a node whose two ops read the same input. The DARTS reference network
(``cnn/model.py`` ``Cell``) builds both, and so does nasx with this option: ``none`` is the
reference ``Zero`` op, ``x * 0`` at stride 1 and ``x[:, :, ::2, ::2] * 0`` on the stride-2
edges of a reduction cell (inputs 0 and 1), so it outputs zeros of the node's shape, keeps the
graph attached, and has no parameters; a node taking input ``i`` twice applies its two ops, two
separate modules, to state ``i`` and sums them. Such a genotype keeps its canonical form (the
two pairs of a node sorted by input, then op). Without the option both are rejected with a
message naming the option; sampling and mutation never introduce them either way, and genotypes
of the space build exactly the same network with the option on or off.

Notation: the ``Genotype(...)`` string of the DARTS code base (``cnn/genotypes.py``)::

    Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
             reduce=[('max_pool_3x3', 0), ...], reduce_concat=[2, 3, 4, 5])

Parsing accepts keyword or positional fields, any whitespace, lists or tuples,
``range(2, 6)`` for the concat lists, and the same fields as a JSON object
(``{"normal": [["sep_conv_3x3", 0], ...], ...}``). The two ops of a node may be listed in either
order: the sum is symmetric, so the canonical form (``str(arch)``, the arch key) lists them by
input node (then op name). Networks are built in canonical order, so a genotype written in
another order gets the same network but a different (equally distributed) initialisation than
in the DARTS code for the same torch seed.

Network: DARTS ``cnn/model.py`` ``NetworkCIFAR`` and ``cnn/operations.py`` (see
:mod:`nasx.spaces._cell_ops`). Options ``C`` (initial channels) and ``layers`` (cells), defaults
16 and 8: the size DARTS searches with, used here for proxy scoring. DARTS *evaluates* with
``C=36, layers=20`` (plus an auxiliary head and drop-path for training): DARTS-V2 then has
3,349,342 parameters without the auxiliary head (CIFAR-10), the "3.3M" of the paper (checked in
the tests). ``affine=False`` removes the affine parameters of the BatchNorms inside cell ops, as
in DARTS's search network and in NASLib's NAS-Bench-301 network, which is ``NetworkCIFAR`` with
``C=32, layers=8``, no auxiliary head in the counted model, and non-affine cell-op BatchNorms
(``naslib/search_spaces/nasbench301/graph.py``; NASLib also puts a non-affine BatchNorm after
each pooling op, which adds no parameters and is not reproduced here). ``forward`` returns the
logits only. For training (:mod:`nasx.training`), the auxiliary head (built with
``auxiliary=True``) is evaluated by the network's ``nasx_forward_train`` in training mode, and
drop-path is the network's ``drop_path_prob`` attribute (0 unless a trainer sets it, as DARTS sets
``model.drop_path_prob`` every epoch): a schedule, not a structure, so it is no space option and
the networks (and score keys) of the default options are unchanged.

Pruning support (:class:`CellPruning`, shared with the NDS families): 28 edges ``(cell, i, j)``
(``cell`` is ``"normal"`` or ``"reduce"``, 14 each, ``0 <= i < j``, ``2 <= j <= 5``), each with
the 8 candidate ops including ``none``, and :meth:`~CellPruning.edge_groups`: the incoming edges of
each node, of which a genotype keeps two. The supernet sums the ops of each edge (no architecture
weights; ``combine="mean"`` averages them) and each node sums all its incoming edges, as a DARTS
``MixedOp`` with equal weights; an empty edge gives zeros (TE-NAS's masked-out edge). It adds no
BatchNorm after pooling ops (DARTS's search network does), so a supernet with one op per genotype
edge and nothing elsewhere *is* the genotype's network (same parameters in the same order).
:meth:`DartsSpace.from_op_sets` derives a genotype from a supernet pruned to at most one op per
edge and two present edges (one op other than ``none``) per node; with ``edge_scores`` it keeps
the two strongest of more (ties: lower input node), as DARTS's ``genotype()`` keeps the two
strongest edges. The pruning strategy's edge phase prunes the nodes to two edges by the proxy,
as TE-NAS does (see :mod:`nasx.strategies.pruning`).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arch import Arch
from ..errors import ConfigError, InvalidArchError
from .base import SearchSpace, register_space
from .darts_genotype import FORMAT_HINT as _FORMAT_HINT
from .darts_genotype import (
    MAX_RANGE,  # noqa: F401 - re-exported: nasx.spaces.darts.MAX_RANGE
    Genotype,
    canonical_pairs,
    format_genotype,
    genotype_to_json,
    parse_genotype,
)
from .darts_genotype import NUM_NODES as _STEPS
from .darts_genotype import invalid_genotype as _invalid

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "CANDIDATE_OPS",
    "CELLS",
    "DARTS_V1",
    "CellPruning",
    "DARTS_V2",
    "OPS",
    "DartsSpace",
    "Genotype",
    "canonical_pairs",
    "format_genotype",
    "genotype_to_json",
    "parse_genotype",
]

#: selectable ops, in DARTS's PRIMITIVES order
OPS: tuple[str, ...] = (
    "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)
#: ops of a supernet edge (DARTS PRIMITIVES, ``none`` included)
CANDIDATE_OPS: tuple[str, ...] = ("none", *OPS)
#: the two searched cells
CELLS: tuple[str, str] = ("normal", "reduce")

DARTS_V1 = (
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"
)
"""DARTS (first order) from ``quark0/darts`` ``cnn/genotypes.py``."""
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
"""DARTS (second order), the genotype the DARTS paper reports, from ``cnn/genotypes.py``."""



# -- pruning support shared with the NDS families --------------------------------------------
Edge = tuple[str, int, int]


class CellPruning:
    """Pruning hooks of a two-cell space whose nodes take two inputs, each through an op.

    Edges are ``(cell, i, j)``: ``cell`` is ``"normal"`` or ``"reduce"``, ``j`` an intermediate
    node (``2 <= j < 2 + steps``) and ``i < j`` one of its possible inputs; normal cell first,
    node-major, then by input. :meth:`edge_groups` gives, per node, its incoming edges and how
    many of them a cell keeps (two), which is what the edge phase of TE-NAS's pruning needs.
    An edge whose op set is empty, or only ``none``, is *absent*: it gives zeros in the
    supernet and is no input of its node in the derived cell.
    """

    name: str
    #: how edge errors name the space
    pruning_label: str = ""

    def _pruning_steps(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def candidate_ops(self, edge: Edge) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def edges(self) -> list[Edge]:
        """Every edge ``(cell, i, j)``: normal cell first, node-major (``j``), then ``i``."""
        steps = self._pruning_steps()
        return [(cell, i, j) for cell in CELLS for j in range(2, 2 + steps) for i in range(j)]

    def edge_groups(self) -> list[tuple[list[Edge], int]]:
        """Per intermediate node (normal cell first, then by node): its incoming edges and the
        number a derived cell keeps (2)."""
        steps = self._pruning_steps()
        return [([(cell, i, j) for i in range(j)], 2)
                for cell in CELLS for j in range(2, 2 + steps)]

    def _edge_index(self, edge: object) -> int:
        table = {e: k for k, e in enumerate(self.edges())}
        try:
            k = table.get(tuple(edge)) if isinstance(edge, (tuple, list)) else None  # type: ignore[arg-type]
        except TypeError:
            k = None
        if k is None:
            last = 1 + self._pruning_steps()
            label = self.pruning_label or self.name
            raise InvalidArchError(
                f"unknown {label} edge {edge!r}; edges are (cell, i, j) with cell 'normal' or "
                f"'reduce', 2 <= j <= {last} and 0 <= i < j"
            )
        return k

    def _op_sets(self, op_sets: dict[Any, Sequence[str]]) -> list[tuple[str, ...]]:
        """``op_sets`` as one tuple per edge of :meth:`edges`, ops in candidate order."""
        if not isinstance(op_sets, dict):
            raise InvalidArchError(
                f"op_sets must be a dict edge -> ops, got {type(op_sets).__name__}"
            )
        edges = self.edges()
        sets: list[tuple[str, ...] | None] = [None] * len(edges)
        for edge, names in op_sets.items():
            k = self._edge_index(edge)
            if isinstance(names, str) or not isinstance(names, (list, tuple, set, frozenset)):
                raise InvalidArchError(
                    f"ops of edge {edge} must be a sequence of op names, got {names!r}"
                )
            cands = list(self.candidate_ops(edges[k]))
            unknown = [n for n in names if n not in cands]
            if unknown:
                raise InvalidArchError(f"unknown op(s) {unknown} on edge {edge}; ops are "
                                       f"{', '.join(cands)}")
            sets[k] = tuple(n for n in cands if n in set(names))
        missing = [edges[k] for k, s in enumerate(sets) if s is None]
        if missing:
            raise InvalidArchError(
                f"op_sets has no entry for edge(s) {', '.join(map(str, missing))}"
            )
        return [s for s in sets if s is not None]

    def cell_pairs(self, op_sets: dict[Any, Sequence[str]], *,
                   edge_scores: dict[Any, float] | None = None
                   ) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]:
        """The (op, input) pairs of the normal and the reduction cell of a pruned supernet.

        Every edge must have at most one op left; the present edges (one op, not ``none``) into
        a node are its inputs, and each node must have exactly two. With ``edge_scores`` (edge
        -> strength, higher is stronger) a node with more than two present edges keeps its two
        strongest (ties: the lower input node), as DARTS derives a genotype.

        Raises:
            InvalidArchError: an edge with several ops, or a node without two present edges.
        """
        sets = self._op_sets(op_sets)
        edges = self.edges()
        bad = [f"{edges[k]}: {list(s)}" for k, s in enumerate(sets) if len(s) > 1]
        if bad:
            raise InvalidArchError(f"every edge must have exactly one op (or none: a removed "
                                   f"edge) to derive a {self.name} cell; not so for "
                                   + "; ".join(bad))
        scores: dict[int, float] = {}
        for edge, value in (edge_scores or {}).items():
            scores[self._edge_index(edge)] = float(value)
        cells = []
        for cell in CELLS:
            pairs: list[tuple[str, int]] = []
            for j in range(2, 2 + self._pruning_steps()):
                cand = [k for k, (cl, _i, jj) in enumerate(edges)
                        if cl == cell and jj == j and sets[k] and sets[k][0] != "none"]
                if len(cand) < 2:
                    raise InvalidArchError(
                        f"node {j} of the {cell} cell has {len(cand)} edge(s) whose op is not "
                        f"'none'; a {self.pruning_label or self.name} node needs two"
                    )
                if len(cand) > 2:
                    if edge_scores is None:
                        raise InvalidArchError(
                            f"node {j} of the {cell} cell has {len(cand)} edges whose op is not "
                            "'none'; prune it to two edges (the pruning strategy's edge phase "
                            "does) or pass edge_scores to choose the two strongest"
                        )
                    missing = [edges[k] for k in cand if k not in scores]
                    if missing:
                        raise InvalidArchError(f"edge_scores has no score for {missing}")
                    cand = sorted(cand, key=lambda k: (-scores[k], edges[k][1]))[:2]
                pairs.extend((sets[k][0], edges[k][1]) for k in cand)
            cells.append(canonical_pairs(pairs))
        return cells[0], cells[1]


# -- the space ---------------------------------------------------------------------------------
@register_space("darts")
class DartsSpace(CellPruning, SearchSpace):
    """The DARTS space: a normal and a reduction cell of 4 nodes, 2 distinct inputs each.

    Options:
        C: initial channels (16; DARTS's evaluation network uses 36).
        layers: number of cells (8; DARTS's evaluation network uses 20).
        auxiliary: also build DARTS's auxiliary head (used in training only).
        affine: affine BatchNorms inside the cell ops (True, as DARTS's evaluation network).
        input_size: height and width of the input images (32; a multiple of 4).
        allow_none: also parse and build genotypes that other tools publish but the space
            excludes (False): ``none`` ops and nodes taking one input twice (see the module
            docstring). Sampling, mutation and neighbours never introduce them.

    Example:
        >>> import numpy as np
        >>> space = DartsSpace(C=8, layers=3, input_size=8)
        >>> a = space.parse(DARTS_V2)
        >>> space.parse(str(a)) == a, len(space.edges())
        (True, 28)
        >>> b = space.mutate(a, np.random.default_rng(0))
        >>> b != a and space.parse(str(b)) == b
        True
    """

    name = "darts"
    pruning_label = "DARTS"
    options: dict[str, tuple[type, Any, str]] = {  # noqa: RUF012 (declared so by the base)
        "C": (int, 16, "initial channels (DARTS evaluation: 36)"),
        "layers": (int, 8, ("number of cells; reductions at layers//3 and 2*layers//3 "
                            "(DARTS evaluation: 20)")),
        "auxiliary": (bool, False, "build the auxiliary head too (used in training only)"),
        "affine": (bool, True, ("affine BatchNorms in cell ops (False: DARTS search / NASLib "
                                "NAS-Bench-301 network)")),
        "input_size": (int, 32, "height and width of the input images (multiple of 4)"),
        "allow_none": (bool, False, ("also accept genotypes outside the search space that the "
                                     "DARTS reference network builds: 'none' ops and a node "
                                     "taking one input twice (sampling and mutation never "
                                     "introduce them)")),
    }
    #: ops a genotype may use
    ops: tuple[str, ...] = OPS
    #: whether the two inputs of a node must differ
    distinct_inputs: bool = True
    what = "DARTS genotype"

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        for key, low in (("C", 1), ("layers", 1), ("input_size", 4)):
            if self.opts[key] < low:
                raise ConfigError(f"{self.name}: option {key} must be >= {low}, "
                                  f"got {self.opts[key]}")
        if self.opts["input_size"] % 4:
            raise ConfigError(f"{self.name}: option input_size must be a multiple of 4 "
                              f"(two stride-2 reductions), got {self.opts['input_size']}")
        size = self.opts["input_size"]
        self.input_shape = (3, size, size)

    # -- notation -----------------------------------------------------------------------------
    def _validate(self, geno: Genotype, text: object) -> Genotype:
        normal, normal_concat, reduce, reduce_concat = geno
        full = tuple(range(2, 2 + _STEPS))
        loose = bool(self.opts.get("allow_none"))
        for cell, pairs, concat in (("normal", normal, normal_concat),
                                    ("reduce", reduce, reduce_concat)):
            for op, _ in pairs:
                if op not in self.ops and not (loose and op == "none"):
                    close = difflib.get_close_matches(op, self.ops, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    extra = (" ('none' is not selectable; the space option allow_none=true "
                             "accepts it)" if op == "none" else "")
                    raise _invalid(text, f"unknown op {op!r} in {cell}{hint}{extra}; ops are "
                                   f"{', '.join(self.ops)}", self.what)
            for k in range(0, len(pairs), 2):
                if pairs[k][1] == pairs[k + 1][1] and not loose:
                    raise _invalid(text, f"node {2 + k // 2} of the {cell} cell takes input "
                                   f"{pairs[k][1]} twice (a node's two inputs must differ; "
                                   "the space option allow_none=true accepts it)", self.what)
            if tuple(sorted(concat)) != full or len(set(concat)) != len(concat):
                raise _invalid(text, f"{cell}_concat must be [2, 3, 4, 5], got "
                               f"{list(concat)}", self.what)
        return (canonical_pairs(normal), full, canonical_pairs(reduce), full)

    def _geno(self, text: Any) -> Genotype:
        try:
            raw = parse_genotype(text)
        except (ValueError, TypeError) as exc:
            raise _invalid(text, str(exc), self.what) from None
        return self._validate(raw, text)

    def parse(self, text: str) -> Arch:
        """Parse a ``Genotype(...)`` string or a JSON object text into an :class:`Arch`.

        Raises:
            InvalidArchError: the text is malformed or not in the space; the message says why.
        """
        if not isinstance(text, str):
            raise InvalidArchError(
                f"a DARTS architecture must be given as a string, got {type(text).__name__}; "
                + _FORMAT_HINT
            )
        return self._arch(self._geno(text))

    def to_json(self, arch: Arch) -> dict[str, Any]:
        """The genotype as a JSON object ``{"normal": [[op, i], ...], "normal_concat": ...}``."""
        return genotype_to_json(self._spec(arch))

    def from_json(self, obj: Any) -> Arch:
        """Inverse of :meth:`to_json` (a ``Genotype(...)`` string is accepted too)."""
        if isinstance(obj, str):
            return self.parse(obj)
        if not isinstance(obj, dict):
            raise InvalidArchError(f"a DARTS genotype JSON must be an object, got "
                                   f"{type(obj).__name__}; " + _FORMAT_HINT)
        return self._arch(self._geno(obj))

    def _arch(self, geno: Genotype) -> Arch:
        text = format_genotype(geno)
        return Arch(space=self.name, key=text, text=text, spec=geno)

    def _spec(self, arch: Arch | str) -> Genotype:
        arch = self.check(arch if isinstance(arch, Arch) else self.parse(arch))
        spec = arch.spec
        if isinstance(spec, tuple) and len(spec) == 4:
            try:
                if format_genotype(spec) == arch.key and self._validate(spec, arch.text) == spec:
                    return spec
            except (InvalidArchError, TypeError, ValueError, IndexError):
                pass
        return self._geno(arch.text)

    # -- sampling -----------------------------------------------------------------------------
    def _sample_cell(self, rng: np.random.Generator) -> tuple[tuple[str, int], ...]:
        pairs: list[tuple[str, int]] = []
        for j in range(2, 2 + _STEPS):
            inputs = rng.choice(j, size=2, replace=False)
            ops = rng.integers(0, len(self.ops), size=2)
            pairs.extend((self.ops[int(o)], int(i)) for o, i in zip(ops, inputs))
        return canonical_pairs(pairs)

    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform over the space: per node, an unordered pair of distinct inputs and two ops."""
        full = tuple(range(2, 2 + _STEPS))
        normal = self._sample_cell(rng)
        reduce = self._sample_cell(rng)
        return self._arch((normal, full, reduce, full))

    def _moves(self, geno: Genotype) -> list[tuple[int, int, str, Any]]:
        """Every elementary change: (cell 0/2, slot, 'op'|'input', new value)."""
        moves: list[tuple[int, int, str, Any]] = []
        for c in (0, 2):
            pairs = geno[c]
            for k, (op, _i) in enumerate(pairs):
                moves.extend((c, k, "op", o) for o in self.ops if o != op)
            for k, (_, i) in enumerate(pairs):
                node = 2 + k // 2
                other = pairs[k ^ 1][1]
                moves.extend((c, k, "input", n) for n in range(node) if n not in (i, other))
        return moves

    def _apply(self, geno: Genotype, move: tuple[int, int, str, Any]) -> Arch:
        c, k, kind, value = move
        pairs = list(geno[c])
        op, i = pairs[k]
        pairs[k] = (value, i) if kind == "op" else (op, int(value))
        new = list(geno)
        new[c] = canonical_pairs(pairs)
        return self._arch(tuple(new))  # type: ignore[arg-type]

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one op, or rewire one input, of one cell (uniform over :meth:`neighbors`'s
        elementary changes; the result is always a valid, different genotype)."""
        geno = self._spec(arch)
        moves = self._moves(geno)
        return self._apply(geno, moves[int(rng.integers(0, len(moves)))])

    def neighbors(self, arch: Arch) -> list[Arch]:
        """Every genotype one op change or one input rewiring away (120 for ``darts``)."""
        geno = self._spec(arch)
        out: dict[Arch, None] = {}
        for move in self._moves(geno):
            out.setdefault(self._apply(geno, move), None)
        out.pop(self._arch(geno), None)
        return list(out)

    # -- networks -----------------------------------------------------------------------------
    def _check_classes(self, num_classes: int) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive int, got {num_classes!r}")

    def build(self, arch: Arch, num_classes: int) -> nn.Module:
        """DARTS's ``NetworkCIFAR`` for ``arch``, freshly initialised (the caller seeds torch).

        ``forward`` returns the logits (DARTS returns ``(logits, logits_aux)``).
        """
        geno = self._spec(arch)
        self._check_classes(num_classes)
        from . import _cell_ops as ops

        make_cell = ops.CellFactory.from_genotype(geno, self.opts["affine"])
        return ops.NetworkCIFAR(self.opts["C"], num_classes, self.opts["layers"], make_cell,
                                auxiliary=self.opts["auxiliary"])

    # -- pruning support ----------------------------------------------------------------------
    def _pruning_steps(self) -> int:
        return _STEPS

    def candidate_ops(self, edge: tuple[str, int, int]) -> list[str]:
        """The 8 ops of every edge (DARTS PRIMITIVES, ``none`` first)."""
        self._edge_index(edge)
        return list(CANDIDATE_OPS)

    def build_supernet(self, op_sets: dict[Any, Sequence[str]], num_classes: int, *,
                       combine: str = "sum") -> nn.Module:
        """The network whose cell edges carry all the ops of ``op_sets[edge]``, summed.

        Each node sums all its incoming edges (a DARTS ``MixedOp`` with unit weights;
        ``combine="mean"`` averages the ops of an edge instead). ``none`` and empty edges give
        zeros. Ops of one edge are built in :data:`CANDIDATE_OPS` order.
        """
        if combine not in ("sum", "mean"):
            raise ConfigError(f"combine must be 'sum' or 'mean', got {combine!r}")
        sets = self._op_sets(op_sets)
        self._check_classes(num_classes)
        from . import _cell_ops as ops

        n = len(sets) // 2
        make_cell = ops.MixedCellFactory(tuple(sets[:n]), tuple(sets[n:]), _STEPS,
                                         self.opts["affine"], mean=combine == "mean")
        return ops.NetworkCIFAR(self.opts["C"], num_classes, self.opts["layers"], make_cell,
                                auxiliary=self.opts["auxiliary"])

    def from_op_sets(self, op_sets: dict[Any, Sequence[str]], *,
                     edge_scores: dict[Any, float] | None = None) -> Arch:
        """The genotype of a pruned supernet (see :meth:`CellPruning.cell_pairs`).

        Raises:
            InvalidArchError: an edge with several ops, or a node without exactly two edges
                left (and no ``edge_scores`` to choose from more).
        """
        normal, reduce = self.cell_pairs(op_sets, edge_scores=edge_scores)
        full = tuple(range(2, 2 + _STEPS))
        return self._arch((normal, full, reduce, full))
