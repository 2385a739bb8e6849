"""The DARTS genotype notation: parsing, formatting and the canonical order of a cell's pairs.

A genotype is written as DARTS prints it, ``Genotype(normal=[('op', input), ...],
normal_concat=[...], reduce=[...], reduce_concat=[...])``, or as the same four fields in a JSON
object (the layout of the NDS and NAS-Bench-301 files). :func:`parse_genotype` reads either
without ``eval`` (a small literal parser: lists, tuples, strings, ints and ``range``, within
stated limits of length and nesting) and checks only the syntax and the input ranges; the ops and
concat rules are checked by the spaces (:mod:`nasx.spaces.darts`, :mod:`nasx.spaces.nds`).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from typing import Any

from ..errors import InvalidArchError
from .base import arch_text_problem, shorten

__all__ = [
    "FIELDS",
    "FORMAT_HINT",
    "MAX_RANGE",
    "NUM_NODES",
    "Genotype",
    "canonical_pairs",
    "format_genotype",
    "genotype_to_json",
    "invalid_genotype",
    "parse_genotype",
    "parse_literal",
]

#: intermediate nodes of a DARTS cell
NUM_NODES = 4

#: a parsed genotype: (normal pairs, normal concat, reduce pairs, reduce concat);
#: pairs are ``(op, input)`` tuples, two per intermediate node
Genotype = tuple[
    tuple[tuple[str, int], ...], tuple[int, ...], tuple[tuple[str, int], ...], tuple[int, ...]
]
FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
FORMAT_HINT = (
    "expected \"Genotype(normal=[('op', i), ...], normal_concat=[...], reduce=[...], "
    "reduce_concat=[...])\" or the same fields as a JSON object"
)


# -- notation ----------------------------------------------------------------------------------
#: longest list ``range(...)`` may expand to in a genotype (a concat list has at most 4 nodes)
MAX_RANGE = 64


def invalid_genotype(text: object, problem: str, what: str = "DARTS genotype") -> InvalidArchError:
    """The error for a genotype ``text`` (shortened) with ``problem``."""
    shown = shorten(text if isinstance(text, str) else repr(text))
    return InvalidArchError(f"invalid {what} {shown!r}: {shorten(problem)}; {FORMAT_HINT}")


def parse_literal(node: ast.AST) -> Any:
    """Evaluate a literal (lists, tuples, str, int, ``range(a, b[, c])``) without ``eval``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)) \
            and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [parse_literal(e) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = parse_literal(node.operand)
        if isinstance(value, int):
            return -value
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in ("range", "list", "tuple") and not node.keywords):
        args = [parse_literal(a) for a in node.args]
        if node.func.id == "range" and 1 <= len(args) <= 3 \
                and all(isinstance(a, int) for a in args):
            if len(args) == 3 and args[2] == 0:
                raise ValueError("range() step must not be zero")
            if len(range(*args)) > MAX_RANGE:  # len() of a range expands nothing
                raise ValueError(f"range() longer than {MAX_RANGE}")
            return list(range(*args))
        if node.func.id != "range" and len(args) == 1 and isinstance(args[0], list):
            return args[0]
    raise ValueError(ast.dump(node) if hasattr(ast, "dump") else "unsupported")


def _fields_of_text(text: str) -> dict[str, Any]:
    """The four raw genotype fields of a ``Genotype(...)`` string or a JSON object."""
    body = text.strip()
    problem = arch_text_problem(body)
    if problem is not None:
        raise ValueError(problem)
    if body.startswith("{"):
        try:
            obj = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise ValueError("it is nested too deeply") from None
        if not isinstance(obj, dict):
            raise ValueError("the JSON value is not an object")
        return obj
    try:
        tree = ast.parse(body, mode="eval")
    except (SyntaxError, RecursionError, MemoryError):
        raise ValueError("it is not a Genotype(...) expression") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "Genotype"):
        raise ValueError("it is not a Genotype(...) expression")
    fields: dict[str, Any] = {}
    if len(call.args) > len(FIELDS):
        raise ValueError(f"Genotype takes {len(FIELDS)} fields, got {len(call.args)}")
    try:
        for name, arg in zip(FIELDS, call.args):
            fields[name] = parse_literal(arg)
        for kw in call.keywords:
            if kw.arg is None:
                raise ValueError("'**' is not allowed")
            if kw.arg in fields:
                raise ValueError(f"field {kw.arg!r} given twice")
            fields[kw.arg] = parse_literal(kw.value)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
    except ValueError as exc:
        if "given twice" in str(exc) or "not allowed" in str(exc) or "range()" in str(exc):
            raise
        raise ValueError("fields must be literal lists of ('op', input) pairs and of "
                         "node numbers (or range(a, b))") from None
    return fields


def _cell_pairs(raw: Any, cell: str, num_nodes: int) -> tuple[tuple[str, int], ...]:
    if not isinstance(raw, (list, tuple)):
        raise TypeError(f"{cell} must be a list of ('op', input) pairs")
    if len(raw) != 2 * num_nodes:
        raise ValueError(
            f"{cell} has {len(raw)} (op, input) pairs; a cell of {num_nodes} intermediate "
            f"nodes needs {2 * num_nodes}"
        )
    pairs = []
    for k, item in enumerate(raw):
        if (not isinstance(item, (list, tuple)) or len(item) != 2
                or not isinstance(item[0], str) or isinstance(item[1], bool)
                or not isinstance(item[1], int)):
            raise ValueError(f"{cell}[{k}] = {item!r} is not an ('op', input) pair")
        node = 2 + k // 2
        if not 0 <= item[1] < node:
            raise ValueError(
                f"{cell}: node {node} cannot take input {item[1]} (only 0..{node - 1})"
            )
        pairs.append((item[0], int(item[1])))
    return tuple(pairs)


def _concat(raw: Any, name: str) -> tuple[int, ...]:
    if not isinstance(raw, (list, tuple)) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in raw
    ):
        raise TypeError(f"{name} must be a list of node numbers")
    return tuple(int(i) for i in raw)


def parse_genotype(text: Any, num_nodes: int = NUM_NODES) -> Genotype:
    """The raw fields of a genotype (``Genotype(...)`` string, JSON text or mapping).

    Only the syntax and the input ranges are checked here; ops, concat rules and canonical order
    are the space's business.

    Raises:
        ValueError: with a message saying what is wrong.
    """
    if isinstance(text, dict):
        fields = dict(text)
    elif isinstance(text, str):
        fields = _fields_of_text(text)
    else:
        raise TypeError(f"a genotype must be a string or a mapping, got {type(text).__name__}")
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}")
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    return (
        _cell_pairs(fields["normal"], "normal", num_nodes),
        _concat(fields["normal_concat"], "normal_concat"),
        _cell_pairs(fields["reduce"], "reduce", num_nodes),
        _concat(fields["reduce_concat"], "reduce_concat"),
    )


def format_genotype(geno: Genotype) -> str:
    """The ``Genotype(...)`` string (Python ``repr`` style, as DARTS prints genotypes)."""
    def pairs(ps: Sequence[tuple[str, int]]) -> str:
        return "[" + ", ".join(f"('{op}', {i})" for op, i in ps) + "]"

    def nodes(ns: Sequence[int]) -> str:
        return "[" + ", ".join(str(n) for n in ns) + "]"

    normal, normal_concat, reduce, reduce_concat = geno
    return (f"Genotype(normal={pairs(normal)}, normal_concat={nodes(normal_concat)}, "
            f"reduce={pairs(reduce)}, reduce_concat={nodes(reduce_concat)})")


def genotype_to_json(geno: Genotype) -> dict[str, Any]:
    """The genotype as a JSON object (the layout of the NDS and NAS-Bench-301 files)."""
    normal, normal_concat, reduce, reduce_concat = geno
    return {
        "normal": [[op, i] for op, i in normal],
        "normal_concat": list(normal_concat),
        "reduce": [[op, i] for op, i in reduce],
        "reduce_concat": list(reduce_concat),
    }


def canonical_pairs(pairs: Sequence[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """The two pairs of every node sorted by (input node, op name)."""
    out: list[tuple[str, int]] = []
    for k in range(0, len(pairs), 2):
        a, b = pairs[k], pairs[k + 1]
        out.extend(sorted((a, b), key=lambda p: (p[1], p[0])))
    return tuple(out)
