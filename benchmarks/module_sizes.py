"""Module sizes and the places the shared run options are written, at two git revisions.

Counts the lines (``wc -l``) of every ``nasx/**/*.py`` file at ``--before`` and at ``--after``
(default: the working tree), and the places where the list of options every run shares is
written out: a function signature, a call or a dict literal that names at least
``--min-options`` (default 6) of them (``data``, ``batch_size``, ``seed``, ``data_seed``,
``device``, ``store``, ``chunk_size``, ``grad_method``, ``download``, ``keep_failures``,
``executor``, ``executor_opts``, ``on_event``). A class whose fields name them counts as one
place. Writes both sides, with the largest modules of either, to a JSON file.

Run (from the repository root):
    python benchmarks/module_sizes.py --before e00519b \\
        --out benchmarks/results/module_sizes.json
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                          check=True).stdout


def _lines(text: str) -> int:
    return text.count("\n") + (0 if text.endswith("\n") or not text else 1)


def sizes_at(rev: str | None) -> dict[str, int]:
    """``{path: lines}`` of ``nasx/**/*.py`` at ``rev`` (None: the working tree)."""
    if rev is None:
        return {str(p.relative_to(REPO)): _lines(p.read_text(encoding="utf-8"))
                for p in sorted((REPO / "nasx").rglob("*.py"))}
    names = _git("ls-tree", "-r", "--name-only", rev, "nasx").split()
    return {n: _lines(_git("show", f"{rev}:{n}")) for n in names if n.endswith(".py")}


RUN_OPTIONS = ("data", "batch_size", "seed", "data_seed", "device", "store", "chunk_size",
               "grad_method", "download", "keep_failures", "executor", "executor_opts",
               "on_event")


def sources_at(rev: str | None) -> dict[str, str]:
    """``{path: text}`` of ``nasx/**/*.py`` at ``rev`` (None: the working tree)."""
    if rev is None:
        return {str(p.relative_to(REPO)): p.read_text(encoding="utf-8")
                for p in sorted((REPO / "nasx").rglob("*.py"))}
    names = _git("ls-tree", "-r", "--name-only", rev, "nasx").split()
    return {n: _git("show", f"{rev}:{n}") for n in names if n.endswith(".py")}


def option_places(sources: dict[str, str], min_options: int) -> list[dict[str, object]]:
    """Every signature, call, dict literal or class body naming ``min_options`` or more of
    :data:`RUN_OPTIONS`."""
    wanted = set(RUN_OPTIONS)
    out: list[dict[str, object]] = []
    for path, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            names: list[str] = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
                kind = f"signature {node.name}"
            elif isinstance(node, ast.Call):
                names = [k.arg for k in node.keywords if k.arg]
                kind = f"call {ast.unparse(node.func)}"
            elif isinstance(node, ast.Dict):
                names = [k.value for k in node.keys
                         if isinstance(k, ast.Constant) and isinstance(k.value, str)]
                kind = "dict"
            elif isinstance(node, ast.ClassDef):
                names = [st.target.id for st in node.body if isinstance(st, ast.AnnAssign)
                         and isinstance(st.target, ast.Name)]
                kind = f"class {node.name}"
            hit = sorted(wanted.intersection(names))
            if len(hit) >= min_options:
                out.append({"file": path, "line": node.lineno, "kind": kind,
                            "options": len(hit)})
    return sorted(out, key=lambda r: (str(r["file"]), int(r["line"])))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="e00519b", help="git revision before [e00519b]")
    ap.add_argument("--after", default=None, help="git revision after [the working tree]")
    ap.add_argument("--top", type=int, default=15, help="largest modules listed [15]")
    ap.add_argument("--min-options", type=int, default=6,
                    help="run options a place must name to count [6]")
    ap.add_argument("--out", default="benchmarks/results/module_sizes.json")
    args = ap.parse_args(argv)
    before, after = sizes_at(args.before), sizes_at(args.after)
    places_before = option_places(sources_at(args.before), args.min_options)
    places_after = option_places(sources_at(args.after), args.min_options)
    largest = sorted(set(before) | set(after),
                     key=lambda k: -max(before.get(k, 0), after.get(k, 0)))[:args.top]
    result = {
        "what": "lines (wc -l) of nasx/**/*.py",
        "before": {"rev": _git("rev-parse", "--short", args.before).strip(),
                   "total": sum(before.values()), "files": len(before)},
        "after": {"rev": args.after or "working tree", "total": sum(after.values()),
                  "files": len(after)},
        "largest": [{"module": k, "before": before.get(k), "after": after.get(k)}
                    for k in largest],
        "run_option_places": {"min_options": args.min_options,
                              "before": len(places_before), "after": len(places_after),
                              "before_places": places_before, "after_places": places_after},
        "all_before": before,
        "all_after": after,
        "command": " ".join(["python", "benchmarks/module_sizes.py", "--before", args.before,
                             "--out", args.out]),
    }
    out = REPO / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    for row in result["largest"]:
        print(f"{row['module']:36s} {row['before'] or '-':>6} {row['after'] or '-':>6}")
    print(f"places naming >= {args.min_options} run options: {len(places_before)} before, "
          f"{len(places_after)} after")
    for row in places_after:
        print(f"  {row['file']}:{row['line']} {row['kind']} ({row['options']})")
    print(f"wrote {args.out}")
    print("rerun: " + result["command"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
