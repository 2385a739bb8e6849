"""The NDS cell design spaces: DARTS, DARTS (fixed width and depth), ENAS, PNAS, NASNet, Amoeba.

"On Network Design Spaces for Visual Recognition" (Radosavovic, Johnson, Xie, Lo & Dollar,
ICCV 2019) samples CIFAR-10 models from the cell spaces of five NAS methods. A model is a
genotype (a normal and a reduction cell) plus the network width ``w`` (initial channels) and
depth ``d`` (number of cells). Each cell has two input nodes and ``n`` intermediate nodes; every
intermediate node sums two ops, each applied to *any* earlier node (the two inputs of a node are
drawn independently, so they may coincide). The families differ in op set, number of nodes and
output:

============  =====  =====  ======  ==================================================
space          ops   nodes  output  op set (pycls names)
============  =====  =====  ======  ==================================================
nds-nasnet      13     5     loose  skip_connect, conv_3x1_1x3, conv_7x1_1x7,
                                    dil_conv_3x3, avg_pool_3x3, max_pool_3x3,
                                    max_pool_5x5, max_pool_7x7, conv_1x1, conv_3x3,
                                    sep_conv_3x3, sep_conv_5x5, sep_conv_7x7
nds-amoeba       8     5     loose  skip_connect, avg_pool_3x3, max_pool_3x3,
                                    sep_conv_3x3, sep_conv_5x5, sep_conv_7x7,
                                    conv_7x1_1x7, dil_sep_conv_3x3
nds-pnas         8     5     all    skip_connect, avg_pool_3x3, max_pool_3x3,
                                    sep_conv_3x3, sep_conv_5x5, sep_conv_7x7,
                                    conv_7x1_1x7, dil_conv_3x3
nds-enas         5     5     loose  skip_connect, avg_pool_3x3, max_pool_3x3,
                                    sep_conv_3x3, sep_conv_5x5
nds-darts        8     4     all    none, max_pool_3x3, avg_pool_3x3, skip_connect,
                                    sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5
============  =====  =====  ======  ==================================================

"loose": the cell output concatenates the intermediate nodes that no node of the cell uses as
input (NASNet's, Amoeba's and ENAS's rule); "all": it concatenates every intermediate node. The
op sets are those of the original methods as the NDS paper lists them (13 / 8 / 8 / 5 / 8 ops);
the counts agree with the paper's cell counts with ordered inputs drawn with repetition, e.g.
``(2*3*4*5*6)**2 * 5**10 = 5.06e12`` for ENAS and ``(2*3*4*5)**2 * 8**8 = 2.42e11`` for DARTS,
which includes DARTS's ``none`` op. ``nds-darts-fix-w-d`` is ``nds-darts`` with width and depth
fixed (options ``width``/``depth``, default 16 and 20). Widths and depths of the other families
are sampled uniformly from the option lists ``widths`` (default ``16,24,32``) and ``depths``
(default ``4,8,12,16,20``), the grid recalled from the paper's text (the NDS model files could
not be consulted); parsing accepts any positive width and depth, so models from the NDS files
load whatever their values.

Notation: a JSON object ``{"genotype": "Genotype(...)", "width": 16, "depth": 8}`` (the
genotype may also be a JSON object with ``normal``, ``normal_concat``, ``reduce`` and
``reduce_concat``, as in the NDS files, and the three fields may sit under ``"net"`` as there);
``nds-darts-fix-w-d`` also accepts a bare ``Genotype(...)`` string. The concat lists, when given,
must equal the family's output rule. Canonical form (``str(arch)``, which is also the key, so
width and depth are part of the identity): the two pairs of a node sorted by (input, op), the
concat lists derived from the rule, and the JSON written with ``json.dumps`` defaults.

Network: pycls ``pycls/models/nas/nas.py`` ``NetworkCIFAR`` with ``C=width, layers=depth`` and
the ops of ``pycls/models/nas/operations.py`` (see :mod:`nasx.spaces._cell_ops`), i.e. DARTS's
network with affine BatchNorms in the ops and a ``FactorizedReduce`` that pads the input before
the one-pixel shift. No auxiliary head and no drop-path (untrained networks are scored; the NDS
training setting of the auxiliary head only adds parameters). ``forward`` returns the logits.

Pruning support (all five families: every node takes two inputs, each through an op): the edges,
edge groups and genotype derivation of :class:`nasx.spaces.darts.CellPruning` with the family's
ops and node count (28 edges for the DARTS family, 40 for the 5-node families). Supernets and
the pruned model have the width and depth of :meth:`NDSSpace.pruning_size` (the first of the
``widths`` / ``depths`` options); a supernet cell concatenates all its intermediate nodes, and
the pruned cell gets the family's output rule. The two inputs of a pruned node are two distinct
edges (a subset of what the NDS families allow, where the inputs may coincide); ``none``, an op of
the DARTS family only, counts as an absent edge when a cell is derived.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arch import Arch
from ..errors import ConfigError, InvalidArchError
from .base import (
    SearchSpace,
    arch_text_problem,
    check_option_limit,
    register_space,
    shorten,
)
from .darts import (
    CellPruning,
    Genotype,
    canonical_pairs,
    format_genotype,
    genotype_to_json,
    parse_genotype,
)

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "FAMILIES",
    "NDSAmoeba",
    "NDSDarts",
    "NDSDartsFixWD",
    "NDSEnas",
    "NDSNasnet",
    "NDSPnas",
    "NDSSpace",
    "loose_ends",
]

#: family -> (ops, intermediate nodes, output rule "loose" | "all")
FAMILIES: dict[str, tuple[tuple[str, ...], int, str]] = {
    "nasnet": (
        ("skip_connect", "conv_3x1_1x3", "conv_7x1_1x7", "dil_conv_3x3", "avg_pool_3x3",
         "max_pool_3x3", "max_pool_5x5", "max_pool_7x7", "conv_1x1", "conv_3x3",
         "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7"), 5, "loose"),
    "amoeba": (
        ("skip_connect", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5",
         "sep_conv_7x7", "conv_7x1_1x7", "dil_sep_conv_3x3"), 5, "loose"),
    "pnas": (
        ("skip_connect", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5",
         "sep_conv_7x7", "conv_7x1_1x7", "dil_conv_3x3"), 5, "all"),
    "enas": (
        ("skip_connect", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5"),
        5, "loose"),
    "darts": (
        ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
         "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"), 4, "all"),
}

_FORMAT_HINT = (
    "expected a JSON object {\"genotype\": \"Genotype(normal=[('op', i), ...], "
    "normal_concat=[...], reduce=[...], reduce_concat=[...])\", \"width\": W, \"depth\": D}"
)


def loose_ends(pairs: Sequence[tuple[str, int]]) -> tuple[int, ...]:
    """Intermediate nodes that no node of the cell takes as input (in increasing order)."""
    used = {i for _, i in pairs}
    return tuple(n for n in range(2, 2 + len(pairs) // 2) if n not in used)


def _int_list(text: Any, owner: str, key: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in str(text).replace(";", ",").split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{owner}: option {key} must be comma-separated integers, "
                          f"got {text!r}") from None
    if not values or any(v < 1 for v in values) or len(set(values)) != len(values):
        raise ConfigError(f"{owner}: option {key} must list distinct positive integers, "
                          f"got {text!r}")
    for v in values:
        check_option_limit(owner, key, v)
    return values


class NDSSpace(CellPruning, SearchSpace):
    """Base class of the NDS families (see the module docstring); subclasses set ``family``.

    Example:
        >>> import numpy as np
        >>> space = NDSEnas(input_size=8, widths="8", depths="2,3")
        >>> a = space.sample(np.random.default_rng(0))
        >>> space.parse(str(a)) == a, sorted(space.to_json(a))
        (True, ['depth', 'genotype', 'width'])
    """

    family: str = "darts"
    fixed: bool = False
    options: dict[str, tuple[type, Any, str]] = {  # noqa: RUF012 (declared so by the base)
        "widths": (str, "16,24,32", "widths (initial channels) sampled from, comma-separated"),
        "depths": (str, "4,8,12,16,20", "depths (number of cells) sampled from"),
        "input_size": (int, 32, "height and width of the input images"),
    }

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        self.ops, self.steps, self.output = FAMILIES[self.family]
        if self.opts["input_size"] < 4:
            raise ConfigError(f"{self.name}: option input_size must be >= 4, "
                              f"got {self.opts['input_size']}")
        if self.fixed:
            for key in ("width", "depth"):
                if self.opts[key] < 1:
                    raise ConfigError(f"{self.name}: option {key} must be >= 1, "
                                      f"got {self.opts[key]}")
            self.widths: tuple[int, ...] = (self.opts["width"],)
            self.depths: tuple[int, ...] = (self.opts["depth"],)
        else:
            self.widths = _int_list(self.opts["widths"], self.name, "widths")
            self.depths = _int_list(self.opts["depths"], self.name, "depths")
        size = self.opts["input_size"]
        self.input_shape = (3, size, size)

    # -- notation -----------------------------------------------------------------------------
    def _invalid(self, text: object, problem: str) -> InvalidArchError:
        shown = shorten(text if isinstance(text, str) else repr(text))
        return InvalidArchError(f"invalid {self.name} model {shown!r}: {shorten(problem)}; "
                                + _FORMAT_HINT)

    def _concat_rule(self, pairs: Sequence[tuple[str, int]]) -> tuple[int, ...]:
        if self.output == "loose":
            return loose_ends(pairs)
        return tuple(range(2, 2 + self.steps))

    def _validate(self, geno: Genotype, text: object) -> Genotype:
        cells = []
        for cell, pairs, concat in (("normal", geno[0], geno[1]), ("reduce", geno[2], geno[3])):
            for op, _ in pairs:
                if op not in self.ops:
                    close = difflib.get_close_matches(op, self.ops, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise self._invalid(text, f"op {op!r} in {cell} is not in the "
                                        f"{self.family} op set{hint}: {', '.join(self.ops)}")
            rule = self._concat_rule(pairs)
            if concat is not None and tuple(sorted(concat)) != rule:
                what = "loose ends" if self.output == "loose" else "all intermediate nodes"
                raise self._invalid(text, f"{cell}_concat {list(concat)} is not the "
                                    f"{self.family} output ({what}: {list(rule)})")
            cells.append((canonical_pairs(pairs), rule))
        return (cells[0][0], cells[0][1], cells[1][0], cells[1][1])

    def _fields(self, obj: Any, text: object) -> tuple[Any, Any, Any]:
        """(genotype, width, depth) of a parsed JSON object (or a bare genotype)."""
        if isinstance(obj, dict) and "net" in obj and isinstance(obj["net"], dict):
            obj = obj["net"]
        if isinstance(obj, dict) and "genotype" in obj:
            unknown = sorted(set(obj) - {"genotype", "width", "depth", "aux", "drop_prob"})
            if unknown:
                raise self._invalid(text, f"unknown field(s) {', '.join(unknown)}")
            return obj["genotype"], obj.get("width"), obj.get("depth")
        if isinstance(obj, dict) and "normal" in obj:
            return obj, None, None
        raise self._invalid(text, "no 'genotype' field")

    def _model(self, obj: Any, text: object) -> tuple[Genotype, int, int]:
        geno_raw, width, depth = self._fields(obj, text)
        try:
            raw = parse_genotype(geno_raw, self.steps)
        except (ValueError, TypeError) as exc:
            raise self._invalid(text, f"genotype: {exc}") from None
        geno = self._validate(raw, text)
        for key, value, allowed in (("width", width, self.widths), ("depth", depth, self.depths)):
            if value is None:
                if not self.fixed:
                    raise self._invalid(text, f"no {key!r} field")
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise self._invalid(text, f"{key} must be a positive integer, got {value!r}")
            if self.fixed and value != allowed[0]:
                raise self._invalid(text, f"{key} {value} differs from this space's fixed "
                                    f"{key} {allowed[0]} (set the {key} option)")
        w = self.widths[0] if width is None else int(width)
        d = self.depths[0] if depth is None else int(depth)
        return geno, w, d

    def parse(self, text: str) -> Arch:
        """Parse the JSON notation (see the module docstring) into an :class:`Arch`.

        Raises:
            InvalidArchError: the text is malformed or not in this family.
        """
        if not isinstance(text, str):
            raise InvalidArchError(f"a {self.name} model must be given as a string, got "
                                   f"{type(text).__name__}; " + _FORMAT_HINT)
        body = text.strip()
        problem = arch_text_problem(body)
        if problem is not None:
            raise self._invalid(text, problem)
        if body.startswith("{"):
            try:
                obj: Any = json.loads(body)
            except json.JSONDecodeError as exc:
                raise self._invalid(text, f"not valid JSON ({exc.msg})") from None
            except RecursionError:
                raise self._invalid(text, "it is nested too deeply") from None
        elif self.fixed and body.startswith("Genotype"):
            obj = {"genotype": body}
        else:
            raise self._invalid(text, "it is not a JSON object")
        return self._arch(*self._model(obj, text))

    def to_json(self, arch: Arch) -> dict[str, Any]:
        """``{"genotype": {normal..., reduce_concat...}, "width": w, "depth": d}``."""
        geno, w, d = self._spec(arch)
        return {"genotype": genotype_to_json(geno), "width": w, "depth": d}

    def from_json(self, obj: Any) -> Arch:
        if isinstance(obj, str):
            return self.parse(obj)
        if not isinstance(obj, dict):
            raise InvalidArchError(f"a {self.name} model JSON must be an object, got "
                                   f"{type(obj).__name__}; " + _FORMAT_HINT)
        return self._arch(*self._model(obj, obj))

    def _arch(self, geno: Genotype, width: int, depth: int) -> Arch:
        text = json.dumps({"genotype": format_genotype(geno), "width": width, "depth": depth})
        return Arch(space=self.name, key=text, text=text, spec=(geno, width, depth),
                    meta=(("width", width), ("depth", depth)))

    def _spec(self, arch: Arch | str) -> tuple[Genotype, int, int]:
        arch = self.check(arch if isinstance(arch, Arch) else self.parse(arch))
        spec = arch.spec
        if isinstance(spec, tuple) and len(spec) == 3:
            try:
                if (self._arch(*spec).key == arch.key
                        and self._validate(spec[0], arch.text) == spec[0]):
                    return spec
            except (InvalidArchError, TypeError, ValueError, IndexError):
                pass
        return self._spec_of_text(arch.text)

    def _spec_of_text(self, text: str) -> tuple[Genotype, int, int]:
        a = self.parse(text)
        return a.spec  # type: ignore[return-value]

    # -- sampling -----------------------------------------------------------------------------
    def _sample_cell(self, rng: np.random.Generator) -> tuple[tuple[str, int], ...]:
        pairs: list[tuple[str, int]] = []
        for j in range(2, 2 + self.steps):
            inputs = rng.integers(0, j, size=2)
            ops = rng.integers(0, len(self.ops), size=2)
            pairs.extend((self.ops[int(o)], int(i)) for o, i in zip(ops, inputs))
        return tuple(pairs)

    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform: two inputs (with repetition) and two ops per node, then width and depth."""
        normal = self._sample_cell(rng)
        reduce = self._sample_cell(rng)
        width = self.widths[int(rng.integers(0, len(self.widths)))]
        depth = self.depths[int(rng.integers(0, len(self.depths)))]
        geno = self._validate((normal, None, reduce, None), None)  # type: ignore[arg-type]
        return self._arch(geno, width, depth)

    def _moves(self, spec: tuple[Genotype, int, int]) -> dict[str, list[tuple[Any, ...]]]:
        geno, width, depth = spec
        ops_moves: list[tuple[Any, ...]] = []
        input_moves: list[tuple[Any, ...]] = []
        for c in (0, 2):
            for k, (op, i) in enumerate(geno[c]):
                ops_moves.extend(("op", c, k, o) for o in self.ops if o != op)
                node = 2 + k // 2
                input_moves.extend(("input", c, k, n) for n in range(node) if n != i)
        moves = {"op": ops_moves, "input": input_moves}
        if len(self.widths) > 1:
            moves["width"] = [("width", w) for w in self.widths if w != width]
        if len(self.depths) > 1:
            moves["depth"] = [("depth", d) for d in self.depths if d != depth]
        return {k: v for k, v in moves.items() if v}

    def _apply(self, spec: tuple[Genotype, int, int], move: tuple[Any, ...]) -> Arch:
        geno, width, depth = spec
        if move[0] == "width":
            return self._arch(geno, move[1], depth)
        if move[0] == "depth":
            return self._arch(geno, width, move[1])
        kind, c, k, value = move
        pairs = list(geno[c])
        op, i = pairs[k]
        pairs[k] = (value, i) if kind == "op" else (op, int(value))
        cells = [geno[0], geno[2]]
        cells[c // 2] = tuple(pairs)
        new = self._validate((cells[0], None, cells[1], None), None)  # type: ignore[arg-type]
        return self._arch(new, width, depth)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """One elementary change: the kind (op, input, and width / depth where they vary) is
        drawn uniformly, then the change uniformly among that kind's changes. Each change
        replaces one (op, input) pair of a node by another, so the result always differs."""
        spec = self._spec(arch)
        moves = self._moves(spec)
        kinds = sorted(moves)
        options = moves[kinds[int(rng.integers(0, len(kinds)))]]
        return self._apply(spec, options[int(rng.integers(0, len(options)))])

    def neighbors(self, arch: Arch) -> list[Arch]:
        """Every model one op change, input rewiring, width or depth change away."""
        spec = self._spec(arch)
        out: dict[Arch, None] = {}
        for options in self._moves(spec).values():
            for move in options:
                out.setdefault(self._apply(spec, move), None)
        out.pop(self._arch(*spec), None)
        return list(out)

    # -- networks -----------------------------------------------------------------------------
    def build(self, arch: Arch, num_classes: int) -> nn.Module:
        """pycls's ``NetworkCIFAR(C=width, layers=depth)`` for the model, freshly initialised."""
        geno, width, depth = self._spec(arch)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive int, got {num_classes!r}")
        from . import _cell_ops as ops

        make_cell = ops.CellFactory.from_genotype(geno, affine=True, pad_reduce=True)
        return ops.NetworkCIFAR(width, num_classes, depth, make_cell)

    # -- pruning support ----------------------------------------------------------------------
    def _pruning_steps(self) -> int:
        return self.steps

    def pruning_size(self) -> tuple[int, int]:
        """(width, depth) of the supernets and of the pruned model: the first value of the
        ``widths`` and ``depths`` options (``width`` / ``depth`` for a fixed space)."""
        return self.widths[0], self.depths[0]

    def candidate_ops(self, edge: tuple[str, int, int]) -> list[str]:
        """The family's ops on every edge (``none`` included for the DARTS family)."""
        self._edge_index(edge)
        return list(self.ops)

    def build_supernet(self, op_sets: dict[Any, Sequence[str]], num_classes: int, *,
                       combine: str = "sum") -> nn.Module:
        """pycls's ``NetworkCIFAR`` at :meth:`pruning_size` whose edges carry ``op_sets[edge]``.

        An edge sums its ops (``combine="mean"`` averages them), a node sums all its incoming
        edges, and the cell output concatenates *every* intermediate node, whatever the family's
        output rule (in a supernet every node but the last is some node's input, so the
        loose-end rule would keep the last node only); the derived cell gets its family's rule
        back. Empty and ``none``-only edges give zeros.
        """
        if combine not in ("sum", "mean"):
            raise ConfigError(f"combine must be 'sum' or 'mean', got {combine!r}")
        sets = self._op_sets(op_sets)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive int, got {num_classes!r}")
        from . import _cell_ops as ops

        n = len(sets) // 2
        width, depth = self.pruning_size()
        make_cell = ops.MixedCellFactory(tuple(sets[:n]), tuple(sets[n:]), self.steps,
                                         affine=True, mean=combine == "mean", pad_reduce=True)
        return ops.NetworkCIFAR(width, num_classes, depth, make_cell)

    def from_op_sets(self, op_sets: dict[Any, Sequence[str]], *,
                     edge_scores: dict[Any, float] | None = None) -> Arch:
        """The model of a pruned supernet (:meth:`~nasx.spaces.darts.CellPruning.cell_pairs`)
        at :meth:`pruning_size`, with the family's output rule."""
        normal, reduce = self.cell_pairs(op_sets, edge_scores=edge_scores)
        geno = self._validate((normal, None, reduce, None), None)  # type: ignore[arg-type]
        return self._arch(geno, *self.pruning_size())


@register_space("nds-darts")
class NDSDarts(NDSSpace):
    """NDS ``DARTS``: 8 ops (``none`` included), 4 nodes, all nodes concatenated."""

    name = "nds-darts"
    family = "darts"


@register_space("nds-darts-fix-w-d")
class NDSDartsFixWD(NDSSpace):
    """NDS ``DARTS_fix-w-d``: the DARTS family with width and depth fixed (options)."""

    name = "nds-darts-fix-w-d"
    family = "darts"
    fixed = True
    options: dict[str, tuple[type, Any, str]] = {  # noqa: RUF012
        "width": (int, 16, "fixed width (initial channels)"),
        "depth": (int, 20, "fixed depth (number of cells)"),
        "input_size": (int, 32, "height and width of the input images"),
    }


@register_space("nds-enas")
class NDSEnas(NDSSpace):
    """NDS ``ENAS``: 5 ops, 5 nodes, loose ends concatenated."""

    name = "nds-enas"
    family = "enas"


@register_space("nds-pnas")
class NDSPnas(NDSSpace):
    """NDS ``PNAS``: 8 ops, 5 nodes, all nodes concatenated."""

    name = "nds-pnas"
    family = "pnas"


@register_space("nds-nasnet")
class NDSNasnet(NDSSpace):
    """NDS ``NASNet``: 13 ops, 5 nodes, loose ends concatenated."""

    name = "nds-nasnet"
    family = "nasnet"


@register_space("nds-amoeba")
class NDSAmoeba(NDSSpace):
    """NDS ``Amoeba``: 8 ops, 5 nodes, loose ends concatenated."""

    name = "nds-amoeba"
    family = "amoeba"
