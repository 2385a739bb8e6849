"""Size of the nasx wheel at two commits (before / after shipping the embedded probe set).

Exports each commit with ``git archive`` into a temporary folder, builds its wheel with
``pip wheel --no-deps --no-build-isolation`` and records the wheel's size and whether it holds
``nasx/_probe/cifar10_probe.npz``.

Run (from the repository root):
    python benchmarks/wheel_size.py --before 1f4681e --after HEAD \
        --out benchmarks/results/wheel_size.json
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(rev: str, tmp: Path) -> dict:
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", rev], capture_output=True,
                         text=True, check=True).stdout.strip()
    src = tmp / f"src-{sha[:8]}"
    src.mkdir()
    blob = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", sha],
                          capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(src, filter="data")
    dist = tmp / f"dist-{sha[:8]}"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                        "--no-build-isolation", "-q", "-w", str(dist), str(src)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"wheel build of {rev} failed:\n{r.stderr[-2000:]}")
    wheel = next(dist.glob("nasx-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    return {"rev": rev, "commit": sha, "wheel": wheel.name, "bytes": wheel.stat().st_size,
            "files": len(names),
            "has_embedded_probe_set": "nasx/_probe/cifar10_probe.npz" in names}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True)
    p.add_argument("--after", default="HEAD")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as t:
        before, after = build(args.before, Path(t)), build(args.after, Path(t))
    out = {"benchmark": "wheel_size", "command": "python " + " ".join(sys.argv),
           "before": before, "after": after, "growth_bytes": after["bytes"] - before["bytes"]}
    for k in ("before", "after"):
        w = out[k]
        print(f"{k:<7}{w['commit'][:8]} {w['bytes']:>10,} bytes  {w['files']} files  "
              f"embedded set: {w['has_embedded_probe_set']}")
    print(f"rerun: {out['command']}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
