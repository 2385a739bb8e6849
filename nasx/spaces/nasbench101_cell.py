"""NAS-Bench-101 cells as plain data: pruning, the benchmark's hash, the canonical order.

A cell is an upper-triangular 0/1 adjacency matrix of at most 7 vertices and one op per vertex
(``input`` first, ``output`` last). These functions work on tuples and need no torch:
:func:`prune` drops the vertices off every input-output path (as the benchmark's ``ModelSpec``),
:func:`module_hash` is the benchmark's isomorphism-invariant hash, :func:`canonical_cell` the
benchmark's vertex order, :func:`compute_vertex_channels` the channels of each vertex, and
:func:`read_cell` / :func:`validate_cell` read and check the JSON text of a cell. The space is
:mod:`nasx.spaces.nasbench101`.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import itertools
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, InvalidArchError
from .base import arch_text_problem, shorten

__all__ = [
    "INPUT",
    "MAX_EDGES",
    "NUM_VERTICES",
    "OPS",
    "OUTPUT",
    "Cell",
    "Matrix",
    "canonical_cell",
    "compute_vertex_channels",
    "format_cell",
    "module_hash",
    "prune",
    "read_cell",
    "valid_pruned_cell",
    "validate_cell",
]

INPUT = "input"
OUTPUT = "output"
#: interior ops in the benchmark's canonical order (``config['available_ops']``): label = index
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
#: most vertices of a cell, input and output included
NUM_VERTICES = 7
#: most edges of a (pruned) cell
MAX_EDGES = 9

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


def read_cell(text: object) -> tuple[list[list[int]], list[str]]:
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


def validate_cell(matrix: Sequence[Sequence[int]], ops: Sequence[str], text: object) -> Cell:
    """Prune and check the benchmark's limits; return the pruned cell."""
    cell = prune(matrix, ops)
    if cell is None:
        raise _invalid(text, "no path joins input and output")
    edges = _num_edges(cell[0])
    if edges > MAX_EDGES:
        raise _invalid(text, f"{edges} edges after pruning, at most {MAX_EDGES} allowed")
    return cell


def format_cell(cell: Cell) -> str:
    """The JSON text of a cell, ``{"matrix": [[...], ...], "ops": [...]}``."""
    matrix, ops = cell
    return json.dumps({"matrix": [list(row) for row in matrix], "ops": list(ops)})


def valid_pruned_cell(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> Cell | None:
    """The pruned cell, None when no path joins input and output or it has too many edges."""
    cell = prune(matrix, ops)
    if cell is None or _num_edges(cell[0]) > MAX_EDGES:
        return None
    return cell
