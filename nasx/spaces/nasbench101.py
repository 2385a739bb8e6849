"""The NAS-Bench-101 cell search space.

NAS-Bench-101 (Ying, Klein, Christiansen, Real, Murphy & Hutter, "NAS-Bench-101: Towards
Reproducible Neural Architecture Search", ICML 2019) searches one cell, repeated through a fixed
network. A cell is a DAG on at most 7 vertices given by an upper-triangular 0/1 adjacency matrix
and one label per vertex: vertex 0 is ``input``, the last vertex is ``output`` and every other
vertex carries one of ``conv3x3-bn-relu``, ``conv1x1-bn-relu`` or ``maxpool3x3``. Notation is
the benchmark's ``ModelSpec`` as JSON::

    {"matrix": [[0, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], ...], "ops": ["input", ..., "output"]}

Validity, identity and canonical form follow google-research/nasbench exactly
(``nasbench/lib/model_spec.py``, ``graph_util.py``, ``api.py``, ``scripts/generate_graphs.py``):

* **pruning** (``ModelSpec._prune``): vertices not on a path from input to output are deleted
  with their edges; a cell is valid when input and output stay connected, the pruned cell has at
  most 7 vertices and at most 9 edges (``NASBench._check_spec``). Unpruned matrices with more
  than 9 edges are therefore accepted when pruning brings them down to 9, as the benchmark does.
* **identity**: the architecture key is NAS-Bench-101's module hash (``graph_util.hash_module``
  on the pruned cell with labels -1 for input, -2 for output and the op's index in
  ``conv3x3-bn-relu, conv1x1-bn-relu, maxpool3x3`` otherwise): every vertex starts from the MD5
  of ``str((out_degree, in_degree, label))``, is re-hashed ``V`` times from the sorted hashes of
  its in-neighbours, of its out-neighbours and its own, and the MD5 of the sorted vertex hashes
  is the key. Isomorphic cells (interior vertices permuted) get the same key and are one
  :class:`~nasx.arch.Arch`; the key is the hash the benchmark's tables are indexed by.
* **canonical form**: ``str(arch)`` is the benchmark's own representative of the isomorphism
  class, i.e. the ``module_adjacency`` / ``module_operations`` that ``get_metrics_from_hash``
  returns. ``generate_graphs.py`` enumerates matrices by the integer of their edge bits (edge
  ``(x, y)`` is bit ``x + y(y-1)/2``) and then labelings in ``itertools.product`` order, and keeps
  the first graph of every hash; the representative is therefore the vertex order (among the
  topological orders of the pruned cell) that minimises ``(edge bits, interior labels)``.
  :meth:`NASBench101.build` builds this representative, which is the network that the
  benchmark trained (the order of the vertices matters for the channel split, below).

The network follows ``nasbench/lib/model_builder.py`` (``build_model_fn``, ``build_module``,
``compute_vertex_channels``, ``projection``, ``truncate``) and ``base_ops.py``:

* stem ``Conv3x3(3, stem_channels)-BN-ReLU``; ``stacks`` stacks of ``cells_per_stack`` cells; before
  every stack but the first a ``MaxPool 2x2 stride 2`` (TensorFlow ``padding='same'``, here
  ``ceil_mode=True``: identical for even sizes) and the channels double; global average pooling
  and a dense layer (with bias) to the classes. Defaults 128 / 3 / 3 / 32 are the benchmark's.
* cell with ``C_in`` input and ``C`` output channels: the output channels are split among the
  vertices that feed the output (``C // k`` each, the first ``C % k`` of them in vertex order get
  one more); every other interior vertex gets the largest channel count among its successors.
  A vertex sums its inputs: an edge from the cell input is a ``1x1 Conv-BN-ReLU`` projection to
  the vertex's channels, an edge from an interior vertex passes its tensor truncated to the
  first channels when it has one channel too many. Then the vertex applies its op
  (``convKxK-bn-relu`` = ``Conv(KxK, same padding, no bias)-BN-ReLU`` keeping the channels,
  ``maxpool3x3`` = ``MaxPool 3x3 stride 1 same``). The cell output is the channel concatenation
  of the vertices feeding the output (in vertex order), plus a ``1x1 Conv-BN-ReLU`` projection
  of the cell input to ``C`` channels when input and output are joined by an edge; a cell whose
  only edge is input->output is that projection alone.
* BatchNorm as ``base_ops.py``: TensorFlow momentum 0.997 (PyTorch ``momentum=0.003``),
  ``eps=1e-5``, affine (gamma and beta are trainable, as in TensorFlow), running statistics.
* initialisation as the TensorFlow defaults the reference relies on: conv kernels
  ``variance_scaling_initializer()`` (truncated normal at 2 std, std ``sqrt(1/fan_in)`` after
  truncation), dense kernel Glorot-uniform, biases 0, BN gamma 1 and beta 0.

With the default options and 10 classes the parameter count equals the benchmark's
``trainable_parameters`` (checked in the tests on the two cells whose counts the benchmark's
own notebook and NNI's documentation print).

Sampling follows the benchmark's random search (``NASBench.ipynb`` ``random_spec``): every
upper-triangular entry of a 7x7 matrix is drawn 0/1 with equal probability and every interior op
uniformly, until the cell is valid; cells are thus not uniform over the 423,624 unique cells.
Mutation is one elementary change of the pruned cell (an op change, removing an edge, adding an
edge between two of its vertices, or adding a vertex joined by one edge from an earlier vertex
and one edge to a later vertex), drawn uniformly among the changes that give a valid cell. The
vertex insertion is this space's addition: with edge flips alone the pruned cell can never gain
a vertex (a free vertex needs two edges to join a path), so the single-edge cell
input->output would have no neighbour at all. The benchmark's own ``mutate_spec`` instead flips
random edges of the unpruned matrix, which an :class:`~nasx.arch.Arch` (a value keyed by the
pruned cell) does not keep.

The ``torch`` modules of the network live in :mod:`nasx.spaces._nb101_net`, imported when a
network is built, so importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arch import Arch
from ..errors import ConfigError, InvalidArchError
from .base import SearchSpace, register_space
from .nasbench101_cell import (
    INPUT,
    MAX_EDGES,
    NUM_VERTICES,
    OPS,
    OUTPUT,
    Cell,
    Matrix,  # noqa: F401 - re-exported: nasx.spaces.nasbench101.Matrix
    canonical_cell,
    compute_vertex_channels,
    format_cell,
    module_hash,
    prune,
    read_cell,
    valid_pruned_cell,
    validate_cell,
)

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "BN_EPS",
    "BN_MOMENTUM",
    "INPUT",
    "MAX_EDGES",
    "NUM_ARCHS",
    "NUM_VERTICES",
    "OPS",
    "OUTPUT",
    "NASBench101",
    "build_network",
    "canonical_cell",
    "compute_vertex_channels",
    "module_hash",
    "prune",
]

#: unique cells (up to isomorphism) in the space, as published
NUM_ARCHS = 423_624
#: PyTorch BatchNorm momentum equal to the benchmark's TensorFlow decay 0.997
BN_MOMENTUM = 1.0 - 0.997
BN_EPS = 1e-5



# -- the space -------------------------------------------------------------------------------
@register_space("nasbench101")
class NASBench101(SearchSpace):
    """The NAS-Bench-101 space: cells of at most 7 vertices and 9 edges, 3 interior ops.

    Options:
        stem_channels: output channels of the stem and of the first stack (128).
        stacks: stacks of cells, joined by 2x2 max-pooling that doubles the channels (3).
        cells_per_stack: cells per stack (3).
        input_size: height and width of the input images (32).

    Example:
        >>> import numpy as np
        >>> space = NASBench101(stem_channels=16, stacks=2, cells_per_stack=1, input_size=8)
        >>> a = space.parse('{"matrix": [[0, 1, 1], [0, 0, 1], [0, 0, 0]], '
        ...                 '"ops": ["input", "conv3x3-bn-relu", "output"]}')
        >>> space.parse(str(a)) == a, len(a.key)
        (True, 32)
        >>> b = space.mutate(a, np.random.default_rng(0))
        >>> b != a
        True
    """

    name = "nasbench101"
    options: dict[str, tuple[type, Any, str]] = {  # noqa: RUF012 (declared so by the base)
        "stem_channels": (int, 128, "output channels of the stem and the first stack"),
        "stacks": (int, 3, "stacks of cells (channels double and size halves between stacks)"),
        "cells_per_stack": (int, 3, "cells per stack"),
        "input_size": (int, 32, "height and width of the input images"),
    }

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        # 5 interior vertices may all feed the output: each needs at least one channel
        for key, low in (("stem_channels", 5), ("stacks", 1), ("cells_per_stack", 1),
                         ("input_size", 1)):
            if self.opts[key] < low:
                raise ConfigError(
                    f"{self.name}: option {key} must be >= {low}, got {self.opts[key]}"
                )
        self.stem_channels: int = self.opts["stem_channels"]
        self.stacks: int = self.opts["stacks"]
        self.cells_per_stack: int = self.opts["cells_per_stack"]
        size = self.opts["input_size"]
        self.input_shape = (3, size, size)

    # -- notation -----------------------------------------------------------------------------
    def parse(self, text: str) -> Arch:
        """Parse a cell (JSON ``{"matrix": ..., "ops": ...}``, pruned or not) into an Arch.

        Whitespace is free; Python-literal dicts (single quotes) and the benchmark's field names
        ``module_adjacency`` / ``module_operations`` are accepted too. The Arch holds the
        canonical pruned cell, so isomorphic cells give equal Archs with the same text.

        Raises:
            InvalidArchError: malformed, or not a valid NAS-Bench-101 cell; the message says
                what is wrong.
        """
        matrix, ops = read_cell(text)
        return self._arch(validate_cell(matrix, ops, text))

    def to_json(self, arch: Arch) -> dict[str, list[Any]]:
        """``{"matrix": [[...]], "ops": [...]}`` of the canonical pruned cell."""
        matrix, ops = self.cell(arch)
        return {"matrix": [list(row) for row in matrix], "ops": list(ops)}

    def from_json(self, obj: Any) -> Arch:
        return self.parse(obj)

    def cell(self, arch: Arch | str) -> Cell:
        """The canonical pruned ``(matrix, ops)`` of ``arch``.

        The text is re-parsed, so a hand-built :class:`~nasx.arch.Arch` is validated too.

        Raises:
            InvalidArchError: the text is not a valid cell, or its hash is not the Arch's key.
        """
        arch = self.check(arch if isinstance(arch, Arch) else self.parse(arch))
        fresh = self.parse(arch.text)
        if fresh.key != arch.key:
            raise InvalidArchError(
                f"NAS-Bench-101 architecture key {arch.key!r} is not the hash {fresh.key!r} of "
                f"its cell {arch.text}"
            )
        return fresh.spec  # type: ignore[return-value]  # always a Cell (built by _arch)

    def hash_of(self, arch: Arch | str) -> str:
        """NAS-Bench-101's module hash of ``arch`` (its key)."""
        if isinstance(arch, Arch):
            return self.check(arch).key
        return self.parse(arch).key

    def _arch(self, pruned: Cell) -> Arch:
        cell = canonical_cell(*pruned)
        return Arch(space=self.name, key=module_hash(*cell), text=format_cell(cell), spec=cell)

    # -- sampling -----------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """A random valid cell, drawn as NAS-Bench-101's ``random_spec`` draws it.

        Every upper-triangular matrix entry is 0 or 1 with probability 1/2 and every interior op
        is uniform over :data:`OPS`; draws are repeated until the cell is valid.
        """
        n = NUM_VERTICES
        while True:
            bits = rng.integers(0, 2, size=(n, n))
            matrix = np.triu(bits, 1).tolist()
            labels = rng.integers(0, len(OPS), size=n)
            ops = [INPUT] + [OPS[int(i)] for i in labels[1:-1]] + [OUTPUT]
            cell = valid_pruned_cell(matrix, ops)
            if cell is not None:
                return self._arch(cell)

    def _moves(self, cell: Cell) -> list[tuple[Any, ...]]:
        """Every elementary change of a pruned cell, in a fixed order (may be invalid)."""
        matrix, ops = cell
        n = len(matrix)
        moves: list[tuple[Any, ...]] = []
        for v in range(1, n - 1):
            for op in OPS:
                if op != ops[v]:
                    moves.append(("op", v, op))
        for u in range(n - 1):
            for v in range(u + 1, n):
                moves.append(("edge", u, v))
        if n < NUM_VERTICES:
            for u in range(n - 1):
                for v in range(u + 1, n):
                    for op in OPS:
                        moves.append(("vertex", u, v, op))
        return moves

    @staticmethod
    def _apply(cell: Cell, move: tuple[Any, ...]) -> Cell | None:
        """The pruned cell after ``move``, or None when it is not a valid cell."""
        matrix, ops = cell
        n = len(matrix)
        m = [list(row) for row in matrix]
        o = list(ops)
        kind = move[0]
        if kind == "op":
            _, v, op = move
            o[v] = op
        elif kind == "edge":
            _, u, v = move
            m[u][v] = 1 - m[u][v]
        else:  # a new vertex right after u, joined u -> new -> v
            _, u, v, op = move
            at = u + 1
            m = [row[:at] + [0] + row[at:] for row in m]
            m.insert(at, [0] * (n + 1))
            m[u][at] = 1
            m[at][v + 1] = 1
            o.insert(at, op)
        return valid_pruned_cell(m, o)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """One elementary change of the pruned cell, uniform among those giving a valid cell.

        The changes are: another op on one interior vertex; removing one edge; adding one edge
        between two vertices of the cell; adding one vertex (any op) joined by an edge from an
        earlier and an edge to a later vertex. Every such change gives a different cell.
        """
        cell = self.cell(arch)
        moves = self._moves(cell)
        for i in rng.permutation(len(moves)):
            new = self._apply(cell, moves[int(i)])
            if new is not None:
                result = self._arch(new)
                if result != arch:  # always so; kept as a guard
                    return result
        raise InvalidArchError(f"no valid mutation of NAS-Bench-101 cell {arch}")  # unreachable

    def neighbors(self, arch: Arch) -> list[Arch]:
        """All distinct cells one elementary change (see :meth:`mutate`) away."""
        cell = self.cell(arch)
        seen = {arch.key}
        out: list[Arch] = []
        for move in self._moves(cell):
            new = self._apply(cell, move)
            if new is None:
                continue
            a = self._arch(new)
            if a.key not in seen:
                seen.add(a.key)
                out.append(a)
        return out

    def size(self) -> int:
        """423,624 unique cells (the benchmark's count; not enumerated here)."""
        return NUM_ARCHS

    # -- networks -----------------------------------------------------------------------------
    def build(self, arch: Arch, num_classes: int) -> nn.Module:
        """The NAS-Bench-101 network of ``arch``'s canonical cell, freshly initialised."""
        matrix, ops = self.cell(arch)
        return build_network(
            matrix, ops, num_classes, stem_channels=self.stem_channels, stacks=self.stacks,
            cells_per_stack=self.cells_per_stack,
        )


def build_network(
    matrix: Sequence[Sequence[int]],
    ops: Sequence[str],
    num_classes: int,
    *,
    stem_channels: int = 128,
    stacks: int = 3,
    cells_per_stack: int = 3,
) -> nn.Module:
    """The NAS-Bench-101 network of a cell given as a matrix and ops, in the given vertex order.

    The cell is validated and pruned (as ``ModelSpec``) but not reordered: vertex order decides
    which vertices get the extra output channels. :meth:`NASBench101.build` passes the
    benchmark's canonical order; this function also reproduces builders that keep the order
    they were given.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive int, got {num_classes!r}")
    raw_matrix, raw_ops = read_cell({"matrix": [list(r) for r in matrix], "ops": list(ops)})
    pruned, pruned_ops = validate_cell(raw_matrix, raw_ops, {"matrix": matrix, "ops": ops})
    from ._nb101_net import BatchNormSettings, NB101Network

    return NB101Network(pruned, pruned_ops, num_classes, stem_channels, stacks, cells_per_stack,
                        compute_vertex_channels, BatchNormSettings(BN_EPS, BN_MOMENTUM))


def __getattr__(name: str) -> Any:
    """The torch modules (``NB101Network``, ``NB101Cell``, ``ConvBnRelu``) stay reachable from
    here; they live in :mod:`nasx.spaces._nb101_net`, imported on first access (it imports
    torch)."""
    if name in ("ConvBnRelu", "NB101Cell", "NB101Network"):
        from . import _nb101_net

        return getattr(_nb101_net, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
