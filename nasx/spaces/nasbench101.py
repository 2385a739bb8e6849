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

import ast
import difflib
import hashlib
import itertools
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arch import Arch
from ..errors import ConfigError, InvalidArchError
from .base import SearchSpace, arch_text_problem, register_space, shorten

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

INPUT = "input"
OUTPUT = "output"
#: interior ops in the benchmark's canonical order (``config['available_ops']``): label = index
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
#: most vertices of a cell, input and output included
NUM_VERTICES = 7
#: most edges of a (pruned) cell
MAX_EDGES = 9
#: unique cells (up to isomorphism) in the space, as published
NUM_ARCHS = 423_624
#: PyTorch BatchNorm momentum equal to the benchmark's TensorFlow decay 0.997
BN_MOMENTUM = 1.0 - 0.997
BN_EPS = 1e-5

Matrix = tuple[tuple[int, ...], ...]
Cell = tuple[Matrix, tuple[str, ...]]

_OP_LABEL = {op: i for i, op in enumerate(OPS)}
_FORMAT_HINT = (
    'expected JSON {"matrix": [[0, 1, ...], ...], "ops": ["input", ..., "output"]}: a square '
    "upper-triangular 0/1 matrix of 2..7 vertices and one op per vertex, 'input' first, "
    f"'output' last and {', '.join(OPS)} in between"
)


# -- cell helpers (pure, on tuples) ----------------------------------------------------------
def _invalid(text: object, problem: str) -> InvalidArchError:
    shown = shorten(text if isinstance(text, str) else repr(text))
    return InvalidArchError(f"invalid NAS-Bench-101 cell {shown!r}: {shorten(problem)}; "
                            f"{_FORMAT_HINT}")


def _num_edges(matrix: Matrix) -> int:
    return sum(sum(row) for row in matrix)


def prune(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> Cell | None:
    """The cell without the vertices that are not on an input->output path.

    As NAS-Bench-101's ``ModelSpec._prune``: keep the vertices reachable from the input and
    reaching the output, in their order. Returns None when input and output are not connected.
    """
    n = len(matrix)
    forward = {0}
    stack = [0]
    while stack:
        v = stack.pop()
        for w in range(v + 1, n):
            if matrix[v][w] and w not in forward:
                forward.add(w)
                stack.append(w)
    backward = {n - 1}
    stack = [n - 1]
    while stack:
        v = stack.pop()
        for u in range(v):
            if matrix[u][v] and u not in backward:
                backward.add(u)
                stack.append(u)
    keep = sorted(forward & backward)
    if len(keep) < 2:
        return None
    pruned = tuple(tuple(int(matrix[i][j]) for j in keep) for i in keep)
    return pruned, tuple(ops[i] for i in keep)


def _labels(ops: Sequence[str]) -> list[int]:
    return [-1] + [_OP_LABEL[op] for op in ops[1:-1]] + [-2]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def module_hash(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> str:
    """NAS-Bench-101's isomorphism-invariant hash of a pruned cell (``graph_util.hash_module``).

    The labels are -1 (input), -2 (output) and the index of the op in :data:`OPS`.
    """
    n = len(matrix)
    labels = _labels(ops)
    in_deg = [sum(int(matrix[u][v]) for u in range(n)) for v in range(n)]
    out_deg = [sum(int(x) for x in matrix[v]) for v in range(n)]
    hashes = [_md5(str((out_deg[v], in_deg[v], labels[v]))) for v in range(n)]
    for _ in range(n):
        hashes = [
            _md5(
                "".join(sorted(hashes[u] for u in range(n) if matrix[u][v]))
                + "|"
                + "".join(sorted(hashes[w] for w in range(n) if matrix[v][w]))
                + "|"
                + hashes[v]
            )
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


def canonical_cell(matrix: Matrix, ops: Sequence[str]) -> Cell:
    """The benchmark's representative of a pruned cell's isomorphism class.

    Among the vertex orders that keep the matrix upper-triangular (input first, output last),
    the one with the smallest ``(edge bits, interior labels)`` as ``generate_graphs.py``
    enumerates them: edge ``(x, y)`` is bit ``x + y*(y-1)//2``, labels in product order.
    """
    n = len(matrix)
    labels = _labels(ops)
    edges = [(u, v) for u in range(n) for v in range(n) if matrix[u][v]]
    best: tuple[int, tuple[int, ...]] | None = None
    best_perm: tuple[int, ...] = tuple(range(n))
    for interior in itertools.permutations(range(1, n - 1)):
        # new position of old vertex v
        pos = [0] * n
        for new, old in enumerate(interior, start=1):
            pos[old] = new
        pos[n - 1] = n - 1
        bits = 0
        ok = True
        for u, v in edges:
            x, y = pos[u], pos[v]
            if x >= y:
                ok = False
                break
            bits |= 1 << (x + y * (y - 1) // 2)
        if not ok:
            continue
        key = (bits, tuple(labels[old] for old in interior))
        if best is None or key < best:
            best, best_perm = key, (0, *interior, n - 1)
    perm = best_perm  # perm[new] = old
    new_matrix = tuple(tuple(int(matrix[perm[i]][perm[j]]) for j in range(n)) for i in range(n))
    return new_matrix, tuple(ops[perm[i]] for i in range(n))


def compute_vertex_channels(c_in: int, c_out: int, matrix: Sequence[Sequence[int]]) -> list[int]:
    """Channels of every vertex of a pruned cell (``model_builder.compute_vertex_channels``).

    The output's channels are split among the interior vertices feeding it (the first
    ``c_out % k`` of them in vertex order get one extra); every other interior vertex takes the
    largest count among its interior successors. Vertex 0 has ``c_in``, the output ``c_out``.
    """
    n = len(matrix)
    channels = [0] * n
    channels[0] = c_in
    channels[n - 1] = c_out
    if n == 2:
        return channels
    feeders = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    k = len(feeders)
    # a pruned cell of more than 2 vertices always has an interior vertex feeding the output
    if k == 0 or c_out < k:
        raise ConfigError(
            f"cannot split {c_out} output channels among {k} vertices feeding the output"
        )
    base, extra = divmod(c_out, k)
    for v in feeders:
        channels[v] = base + (1 if extra > 0 else 0)
        extra -= 1
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            for w in range(v + 1, n - 1):
                if matrix[v][w]:
                    channels[v] = max(channels[v], channels[w])
    return channels


def _read(text: object) -> tuple[list[list[int]], list[str]]:
    """Parse the JSON (or Python-literal) notation into a raw matrix and ops; validate shape."""
    if isinstance(text, dict):
        obj: Any = text
    elif isinstance(text, str):
        body = text.strip()
        if not body:
            raise _invalid(text, "it is empty")
        problem = arch_text_problem(body)
        if problem is not None:
            raise _invalid(text, problem)
        try:
            obj = json.loads(body)
        except RecursionError:
            raise _invalid(text, "it is nested too deeply") from None
        except ValueError:
            try:
                obj = ast.literal_eval(body)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                raise _invalid(text, "it is not JSON") from None
    else:
        raise InvalidArchError(
            f"a NAS-Bench-101 cell must be given as JSON text or a dict, got "
            f"{type(text).__name__}; {_FORMAT_HINT}"
        )
    if not isinstance(obj, dict):
        raise _invalid(text, f"it is a JSON {type(obj).__name__}, not an object")
    if "matrix" not in obj and "module_adjacency" in obj:  # the benchmark's own field names
        obj = {"matrix": obj["module_adjacency"], "ops": obj.get("module_operations")}
    missing = [k for k in ("matrix", "ops") if k not in obj]
    if missing:
        raise _invalid(text, f"no {' or '.join(repr(k) for k in missing)} field")
    unknown = sorted(set(obj) - {"matrix", "ops"})
    if unknown:
        raise _invalid(text, f"unknown field(s) {', '.join(map(repr, unknown))}")
    raw_matrix, raw_ops = obj["matrix"], obj["ops"]
    if hasattr(raw_matrix, "tolist"):
        raw_matrix = raw_matrix.tolist()
    if not isinstance(raw_matrix, (list, tuple)) or not all(
        isinstance(row, (list, tuple)) for row in raw_matrix
    ):
        raise _invalid(text, "'matrix' must be a list of rows")
    n = len(raw_matrix)
    if not 2 <= n <= NUM_VERTICES:
        raise _invalid(text, f"the matrix has {n} vertices, need 2..{NUM_VERTICES}")
    if any(len(row) != n for row in raw_matrix):
        raise _invalid(text, f"the matrix is not square ({n} rows of lengths "
                       f"{[len(row) for row in raw_matrix]})")
    matrix: list[list[int]] = []
    for i, row in enumerate(raw_matrix):
        out_row = []
        for j, x in enumerate(row):
            if isinstance(x, bool) or x in (0, 1) and isinstance(x, (int, np.integer)):
                out_row.append(int(x))
            else:
                raise _invalid(text, f"matrix entry [{i}][{j}] = {x!r} is not 0 or 1")
            if j <= i and out_row[-1]:
                raise _invalid(
                    text, f"matrix entry [{i}][{j}] is 1 but the matrix must be upper-triangular "
                    "(edges only from a vertex to a later one)"
                )
        matrix.append(out_row)
    if not isinstance(raw_ops, (list, tuple)) or not all(isinstance(o, str) for o in raw_ops):
        raise _invalid(text, "'ops' must be a list of op names")
    ops = [o.strip() for o in raw_ops]
    if len(ops) != n:
        raise _invalid(text, f"{len(ops)} ops for a matrix of {n} vertices")
    if ops[0] != INPUT:
        raise _invalid(text, f"the first op must be 'input', got {ops[0]!r}")
    if ops[-1] != OUTPUT:
        raise _invalid(text, f"the last op must be 'output', got {ops[-1]!r}")
    for op in ops[1:-1]:
        if op not in _OP_LABEL:
            close = difflib.get_close_matches(op, OPS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise _invalid(text, f"unknown op {op!r}{hint}")
    return matrix, ops


def _validate(matrix: Sequence[Sequence[int]], ops: Sequence[str], text: object) -> Cell:
    """Prune and check the benchmark's limits; return the pruned cell."""
    cell = prune(matrix, ops)
    if cell is None:
        raise _invalid(text, "no path joins input and output")
    edges = _num_edges(cell[0])
    if edges > MAX_EDGES:
        raise _invalid(text, f"{edges} edges after pruning, at most {MAX_EDGES} allowed")
    return cell


def _format(cell: Cell) -> str:
    matrix, ops = cell
    return json.dumps({"matrix": [list(row) for row in matrix], "ops": list(ops)})


def _pruned_is_valid(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> Cell | None:
    cell = prune(matrix, ops)
    if cell is None or _num_edges(cell[0]) > MAX_EDGES:
        return None
    return cell


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
        matrix, ops = _read(text)
        return self._arch(_validate(matrix, ops, text))

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
        return Arch(space=self.name, key=module_hash(*cell), text=_format(cell), spec=cell)

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
            cell = _pruned_is_valid(matrix, ops)
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
        return _pruned_is_valid(m, o)

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
    raw_matrix, raw_ops = _read({"matrix": [list(r) for r in matrix], "ops": list(ops)})
    pruned, pruned_ops = _validate(raw_matrix, raw_ops, {"matrix": matrix, "ops": ops})
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
