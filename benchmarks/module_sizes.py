"""Line counts of nasx's modules at two git revisions (the README's "module size" table).

Counts the lines (``wc -l``) of every ``nasx/**/*.py`` file at ``--before`` (default: the
commit the engine reorganisation started from) and at ``--after`` (default: the working tree),
and writes both, with the largest modules of either side, to a JSON file.

Run (from the repository root):
    python benchmarks/module_sizes.py --before 5f60e31 \\
        --out benchmarks/results/module_sizes.json
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="5f60e31", help="git revision before [5f60e31]")
    ap.add_argument("--after", default=None, help="git revision after [the working tree]")
    ap.add_argument("--top", type=int, default=15, help="largest modules listed [15]")
    ap.add_argument("--out", default="benchmarks/results/module_sizes.json")
    args = ap.parse_args(argv)
    before, after = sizes_at(args.before), sizes_at(args.after)
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
    print(f"wrote {args.out}")
    print("rerun: " + result["command"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
