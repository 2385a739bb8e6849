"""The NAS-Bench-201 cell search space.

NAS-Bench-201 (Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural
Architecture Search", ICLR 2020) is a fixed macro skeleton with one searched cell, repeated in
every stage. The cell is a complete DAG on 4 nodes: node 0 is the cell input, node ``j`` is the
sum of ``op(node i)`` over ``i < j`` and node 3 is the cell output. Each of its 6 edges carries
one of 5 ops (``none``, ``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``),
so the space has ``5**6 = 15,625`` cells.

Notation is the benchmark's cell string, one ``|op~i|`` group per incoming edge of node 1, 2, 3::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|

The network follows the reference implementation, AutoDL-Projects
``xautodl/models/cell_infers/tiny_network.py`` (``TinyNetwork``), ``cells.py`` (``InferCell``) and
``cell_operations.py`` (``OPS``, ``ReLUConvBN``, ``ResNetBasicblock``, ``Zero``):

* stem: ``Conv3x3(3, C, bias=False)`` + ``BN`` (no ReLU);
* three stages of ``N`` cells with ``C``, ``2C`` and ``4C`` channels, joined by residual
  reduction blocks: ``ReLU-Conv3x3(stride 2)-BN``, ``ReLU-Conv3x3-BN``, plus a shortcut
  ``AvgPool2d(2, 2)`` + ``Conv1x1(bias=False)`` (no BN on the shortcut, no ReLU after the add);
* ``BN`` + ``ReLU``, global average pooling and a ``Linear`` classifier.

Cell ops: ``none`` multiplies its input by 0, ``skip_connect`` is the identity,
``nor_conv_kxk`` is ``ReLU-Conv(k, padding k//2, bias=False)-BN`` and ``avg_pool_3x3`` is
``AvgPool2d(3, stride 1, padding 1, count_include_pad=False)``. Every BatchNorm is affine and
tracks running statistics, as in the benchmark. With ``C=16, N=5`` and 10 classes the parameter
counts equal the benchmark's CIFAR-10 counts (checked for all 15,625 cells in the tests).

Architecture indices follow the benchmark (``NASBench201API.query_by_index``): the cells in
AutoDL's ``Structure.gen_all`` order (lexicographic over the 6 edges in canonical order, first
edge most significant, ops in the order of :data:`OPS`), shuffled with Python's
``random.seed(88); random.shuffle(...)`` (AutoDL ``exps/NAS-Bench-201/main.py``,
``generate_meta_info``). :meth:`NASBench201.enumerate`, :meth:`NASBench201.index_of` and
:meth:`NASBench201.from_index` reproduce that order; the shuffle is re-implemented here on
``random.Random.getrandbits`` so that it does not depend on the standard library's ``shuffle``.

The ``torch`` modules of the network live in :mod:`nasx.spaces._nb201_net`, imported when a
network is built, so importing this module (which ``nasx list spaces`` does) does not import
torch. A built network offers TE-NAS's thin network through the ``nasx_thin_model`` hook.
"""

from __future__ import annotations

import difflib
import functools
import random
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arch import Arch
from ..errors import ConfigError, InvalidArchError
from .base import SearchSpace, register_space

if TYPE_CHECKING:
    from torch import nn

__all__ = ["EDGES", "NUM_ARCHS", "OPS", "NASBench201"]

#: the 5 candidate ops, in the benchmark's order (``NAS_BENCH_201`` in AutoDL)
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: the 6 edges ``(from_node, to_node)`` in canonical (cell-string) order
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
#: number of cells in the space
NUM_ARCHS: int = len(OPS) ** len(EDGES)

_NUM_NODES = 4
_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_EDGE_INDEX = {edge: k for k, edge in enumerate(EDGES)}
_FORMAT_HINT = (
    "expected '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' (the NAS-Bench-201 cell string: one "
    "'|'-delimited group per node 1..3, listing 'op~i' for every input node i < node) with op "
    f"one of {', '.join(OPS)}"
)
_SHUFFLE_SEED = 88  # AutoDL exps/NAS-Bench-201/main.py: "please do not change this line"


# -- notation helpers --------------------------------------------------------------------------
def _format(spec: Sequence[str]) -> str:
    """The canonical cell string of the 6 edge ops (in :data:`EDGES` order)."""
    groups = []
    for node in range(1, _NUM_NODES):
        tokens = [f"{spec[_EDGE_INDEX[(i, node)]]}~{i}" for i in range(node)]
        groups.append("|" + "|".join(tokens) + "|")
    return "+".join(groups)


def _code(spec: Sequence[str]) -> int:
    """Position of ``spec`` in the lexicographic (``gen_all``) order."""
    code = 0
    for op in spec:
        code = code * len(OPS) + _OP_INDEX[op]
    return code


def _spec_of_code(code: int) -> tuple[str, ...]:
    digits = []
    for _ in EDGES:
        code, digit = divmod(code, len(OPS))
        digits.append(OPS[digit])
    return tuple(reversed(digits))


def _randbelow(rng: random.Random, n: int) -> int:
    """A uniform integer in ``[0, n)`` drawn exactly as CPython's ``Random._randbelow``."""
    k = n.bit_length()
    r = rng.getrandbits(k)
    while r >= n:
        r = rng.getrandbits(k)
    return r


@functools.lru_cache(maxsize=1)
def _benchmark_order() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(lexicographic code of each benchmark index, benchmark index of each code)."""
    codes = list(range(NUM_ARCHS))
    rng = random.Random(_SHUFFLE_SEED)
    for i in reversed(range(1, len(codes))):  # Fisher-Yates, as random.shuffle
        j = _randbelow(rng, i + 1)
        codes[i], codes[j] = codes[j], codes[i]
    inverse = [0] * NUM_ARCHS
    for index, code in enumerate(codes):
        inverse[code] = index
    return tuple(codes), tuple(inverse)


def _invalid(text: object, problem: str) -> InvalidArchError:
    return InvalidArchError(
        f"invalid NAS-Bench-201 cell string {text!r}: {problem}; {_FORMAT_HINT}"
    )


def _parse_spec(text: object) -> tuple[str, ...]:
    """Parse a cell string into the 6 edge ops; raise InvalidArchError saying what is wrong.

    The inputs of a node may be listed in any order; the canonical form lists them by input node.
    """
    if not isinstance(text, str):
        raise InvalidArchError(
            f"a NAS-Bench-201 architecture must be given as a cell string, got "
            f"{type(text).__name__}; {_FORMAT_HINT}"
        )
    body = text.strip()
    if not body:
        raise _invalid(text, "it is empty")
    groups = body.split("+")
    if len(groups) != _NUM_NODES - 1:
        raise _invalid(
            text, f"found {len(groups)} node group(s) separated by '+', need {_NUM_NODES - 1}"
        )
    spec: list[str | None] = [None] * len(EDGES)
    for node, group in enumerate(groups, start=1):
        if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
            raise _invalid(
                text, f"the group of node {node} ({group!r}) must start and end with '|'"
            )
        seen: set[int] = set()
        for token in group[1:-1].split("|"):
            op, sep, src = token.partition("~")
            if not sep or "~" in src:
                raise _invalid(
                    text, f"{token!r} in the group of node {node} is not of the form 'op~i'"
                )
            if not src.isdigit() or not src.isascii():
                raise _invalid(text, f"input node {src!r} in {token!r} is not a node number")
            source = int(src)
            if source >= node:
                raise _invalid(
                    text,
                    f"node {node} cannot take input from node {source} (only from 0..{node - 1})",
                )
            if source in seen:
                raise _invalid(text, f"node {node} lists input node {source} twice")
            if op not in _OP_INDEX:
                close = difflib.get_close_matches(op, OPS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise _invalid(text, f"unknown op {op!r}{hint}")
            seen.add(source)
            spec[_EDGE_INDEX[(source, node)]] = op
        missing = [i for i in range(node) if i not in seen]
        if missing:
            raise _invalid(
                text, f"node {node} has no op for input node(s) {', '.join(map(str, missing))}"
            )
    return tuple(op for op in spec if op is not None)


# -- the space ---------------------------------------------------------------------------------
@register_space("nasbench201")
class NASBench201(SearchSpace):
    """The NAS-Bench-201 space: 15,625 cells of 6 edges with 5 ops each.

    Options:
        C: channels of the first stage (16 in the benchmark); stages have C, 2C and 4C.
        N: cells per stage (5 in the benchmark).
        input_size: height and width of the input images (32 for CIFAR); a multiple of 4.

    Example:
        >>> import numpy as np
        >>> space = NASBench201(C=8, N=1)
        >>> a = space.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|none~2|")
        >>> a.spec[:3]
        ('nor_conv_3x3', 'none', 'skip_connect')
        >>> space.parse(str(a)) == a, space.size(), space.index_of(space.from_index(9930))
        (True, 15625, 9930)
        >>> b = space.mutate(a, np.random.default_rng(0))
        >>> sum(x != y for x, y in zip(a.spec, b.spec))
        1
    """

    name = "nasbench201"
    options: dict[str, tuple[type, Any, str]] = {  # noqa: RUF012 (declared so by the base)
        "C": (int, 16, "channels of the first stage (doubled at each of the 2 reductions)"),
        "N": (int, 5, "cells per stage"),
        "input_size": (int, 32, "height and width of the input images (a multiple of 4)"),
    }

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        for key, low in (("C", 1), ("N", 1), ("input_size", 4)):
            if self.opts[key] < low:
                raise ConfigError(
                    f"{self.name}: option {key} must be >= {low}, got {self.opts[key]}"
                )
        if self.opts["input_size"] % 4:
            raise ConfigError(
                f"{self.name}: option input_size must be a multiple of 4 (the network halves "
                f"the resolution twice, and each reduction block needs an even size), got "
                f"{self.opts['input_size']}"
            )
        self.C: int = self.opts["C"]
        self.N: int = self.opts["N"]
        size = self.opts["input_size"]
        self.input_shape = (3, size, size)

    # -- notation -----------------------------------------------------------------------------
    def parse(self, text: str) -> Arch:
        """Parse a cell string (surrounding whitespace allowed) into an :class:`Arch`.

        Raises:
            InvalidArchError: the string is malformed; the message says what is wrong and gives
                the expected format.
        """
        return self._arch(_parse_spec(text))

    def to_json(self, arch: Arch) -> str:
        """The canonical cell string of ``arch``."""
        return _format(self._spec(arch))

    def _arch(self, spec: tuple[str, ...]) -> Arch:
        text = _format(spec)
        return Arch(space=self.name, key=text, text=text, spec=spec)

    def _spec(self, arch: Arch | str) -> tuple[str, ...]:
        """The 6 edge ops of ``arch``, validated (an Arch built by hand is re-parsed)."""
        arch = self.check(arch if isinstance(arch, Arch) else self.parse(arch))
        spec = arch.spec
        if (
            isinstance(spec, tuple)
            and len(spec) == len(EDGES)
            and all(isinstance(op, str) and op in _OP_INDEX for op in spec)
            and arch.key == _format(spec)
        ):
            return spec
        return _parse_spec(arch.text)

    # -- sampling -----------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """A uniformly random cell (each edge op drawn uniformly and independently)."""
        picks = rng.integers(0, len(OPS), size=len(EDGES))
        return self._arch(tuple(OPS[int(i)] for i in picks))

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Replace the op of one uniformly chosen edge by a uniformly chosen different op."""
        spec = list(self._spec(arch))
        edge = int(rng.integers(0, len(EDGES)))
        others = [op for op in OPS if op != spec[edge]]
        spec[edge] = others[int(rng.integers(0, len(others)))]
        return self._arch(tuple(spec))

    def neighbors(self, arch: Arch) -> list[Arch]:
        """The 24 cells that differ from ``arch`` on exactly one edge (edge-major, op order)."""
        spec = self._spec(arch)
        out = []
        for edge in range(len(EDGES)):
            for op in OPS:
                if op != spec[edge]:
                    out.append(self._arch(spec[:edge] + (op,) + spec[edge + 1 :]))
        return out

    def size(self) -> int:
        return NUM_ARCHS

    def enumerate(self) -> Iterator[Arch]:
        """All 15,625 cells in NAS-Bench-201 index order (index 0 first)."""
        codes, _ = _benchmark_order()
        for code in codes:
            yield self._arch(_spec_of_code(code))

    def index_of(self, arch: Arch | str) -> int:
        """The NAS-Bench-201 index of ``arch`` (as ``NASBench201API.query_index_by_arch``)."""
        _, inverse = _benchmark_order()
        return inverse[_code(self._spec(arch))]

    def from_index(self, index: int) -> Arch:
        """The cell with NAS-Bench-201 index ``index`` (0 <= index < 15625)."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise InvalidArchError(f"a NAS-Bench-201 index must be an int, got {index!r}")
        if not 0 <= index < NUM_ARCHS:
            raise InvalidArchError(
                f"NAS-Bench-201 index {index} is out of range 0..{NUM_ARCHS - 1}"
            )
        codes, _ = _benchmark_order()
        return self._arch(_spec_of_code(codes[int(index)]))

    # -- networks -----------------------------------------------------------------------------
    def build(self, arch: Arch, num_classes: int) -> nn.Module:
        """The NAS-Bench-201 network of ``arch``, freshly initialised (the caller seeds torch).

        Modules are created in the reference implementation's order, so one torch seed gives
        the same initial weights as AutoDL's ``TinyNetwork``. ``forward`` returns the logits only
        (``TinyNetwork`` returns ``(features, logits)``).
        """
        spec = self._spec(arch)
        return self._network([(op,) for op in spec], num_classes, "sum")

    def edges(self) -> list[tuple[int, int]]:
        """The 6 edges ``(from_node, to_node)`` in canonical order."""
        return list(EDGES)

    def candidate_ops(self, edge: tuple[int, int]) -> list[str]:
        """The 5 ops every edge can take."""
        self._edge_id(edge)
        return list(OPS)

    def build_supernet(
        self,
        op_sets: dict[tuple[int, int], Sequence[str]],
        num_classes: int,
        *,
        combine: str = "sum",
    ) -> nn.Module:
        """The network whose cells carry on every edge all the ops of ``op_sets[edge]``.

        An edge's output is the sum of its ops' outputs (``combine="mean"`` divides by the number
        of ops, as TE-NAS's softmax over equal architecture weights does). An edge whose set is
        empty, or only ``none``, outputs zeros. Ops of one edge are built in :data:`OPS` order;
        duplicates are ignored. With a single op per edge this is :meth:`build` exactly.

        Args:
            op_sets: edge -> op names, for each of the 6 edges of :meth:`edges`.
            num_classes: outputs of the classifier.
            combine: ``"sum"`` (default) or ``"mean"``.
        """
        if combine not in ("sum", "mean"):
            raise ConfigError(f"combine must be 'sum' or 'mean', got {combine!r}")
        return self._network(self._op_sets(op_sets), num_classes, combine)

    def from_op_sets(self, op_sets: dict[tuple[int, int], Sequence[str]]) -> Arch:
        """The cell when every edge has exactly one op left."""
        sets = self._op_sets(op_sets)
        bad = [f"{EDGES[k]}: {list(ops)}" for k, ops in enumerate(sets) if len(ops) != 1]
        if bad:
            raise InvalidArchError(
                "every edge must have exactly one op to form a NAS-Bench-201 cell; not so for "
                + "; ".join(bad)
            )
        return self._arch(tuple(ops[0] for ops in sets))

    def _edge_id(self, edge: object) -> int:
        try:
            k = _EDGE_INDEX.get(tuple(edge)) if isinstance(edge, (tuple, list)) else None
        except TypeError:  # unhashable items
            k = None
        if k is None:
            raise InvalidArchError(
                f"unknown NAS-Bench-201 edge {edge!r}; edges are {', '.join(map(str, EDGES))}"
            )
        return k

    def _op_sets(self, op_sets: dict[tuple[int, int], Sequence[str]]) -> list[tuple[str, ...]]:
        """Validate ``op_sets`` into one canonical op tuple per edge (in :data:`EDGES` order)."""
        if not isinstance(op_sets, dict):
            raise InvalidArchError(
                f"op_sets must be a dict edge -> ops, got {type(op_sets).__name__}"
            )
        sets: list[tuple[str, ...] | None] = [None] * len(EDGES)
        for edge, ops in op_sets.items():
            k = self._edge_id(edge)
            if isinstance(ops, str):
                raise InvalidArchError(
                    f"ops of edge {edge} must be a sequence of op names, got {ops!r}"
                )
            unknown = [op for op in ops if op not in _OP_INDEX]
            if unknown:
                raise InvalidArchError(
                    f"unknown op(s) {unknown} on edge {edge}; ops are {', '.join(OPS)}"
                )
            sets[k] = tuple(op for op in OPS if op in set(ops))
        missing = [EDGES[k] for k, ops in enumerate(sets) if ops is None]
        if missing:
            raise InvalidArchError(
                f"op_sets has no entry for edge(s) {', '.join(map(str, missing))}"
            )
        return [ops for ops in sets if ops is not None]

    def _network(self, sets: Sequence[Sequence[str]], num_classes: int, combine: str) -> nn.Module:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive int, got {num_classes!r}")
        from ._nb201_net import NB201Network

        return NB201Network(sets, self.C, self.N, num_classes, combine, EDGES)


def __getattr__(name: str) -> Any:
    """The torch modules (``NB201Network``, ``NB201Cell``, ...) stay reachable from here; they
    live in :mod:`nasx.spaces._nb201_net`, imported on first access (it imports torch)."""
    if name in ("ReLUConvBN", "ZeroOp", "ResNetBasicBlock", "NB201Cell", "NB201Network"):
        from . import _nb201_net

        return getattr(_nb201_net, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
