"""Wall time of the README's first command on a fresh, offline machine.

Runs ``nasx search --space darts --proxy gradalign-i --budget 2`` (or ``--args``) in a
subprocess with an empty cache folder (HOME and XDG_CACHE_HOME pointed at a new temporary
folder) and sockets blocked (a ``sitecustomize`` on PYTHONPATH makes every connection raise), and
records its wall time, exit status, stderr notes and JSON result. Wall time depends on the
machine and its load: say which in ``--note``.

Run (from the repository root):
    python benchmarks/first_command.py --out benchmarks/results/first_command_cpu.json \
        --note "..."
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCK = """import socket
def _blocked(*a, **k):
    raise OSError("network access blocked")
socket.socket.connect = _blocked
socket.create_connection = _blocked
socket.getaddrinfo = _blocked
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--args", default="search --space darts --proxy gradalign-i --budget 2",
                   help="nasx arguments [%(default)s]")
    p.add_argument("--threads", type=int, default=None,
                   help="OMP_NUM_THREADS for the command [unset: torch's default]")
    p.add_argument("--out", default=None)
    p.add_argument("--note", default="")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(BLOCK)
        home = Path(tmp) / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("NASX_", "XDG_")) and k not in ("HOME", "PYTHONPATH")}
        env.update(HOME=str(home), PYTHONPATH=os.pathsep.join([str(site), str(REPO)]))
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        cmd = [sys.executable, "-m", "nasx", *shlex.split(args.args), "--json"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(r.stdout) if r.returncode == 0 else None
    out = {
        "benchmark": "first_command",
        "command": "python " + " ".join(sys.argv),
        "nasx_command": "nasx " + args.args,
        "returncode": r.returncode,
        "wall_seconds": round(wall, 1),
        "cpu_user_seconds": round(after.ru_utime - before.ru_utime, 1),
        "cpu_system_seconds": round(after.ru_stime - before.ru_stime, 1),
        "offline": True,
        "empty_cache": True,
        "stderr_notes": [ln for ln in r.stderr.splitlines() if ln.startswith("nasx:")],
        "result": {k: result[k] for k in ("best", "score", "evaluated", "failed", "seconds",
                                          "data_fingerprint", "settings")} if result else None,
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "note": args.note,
    }
    print(f"nasx {args.args}: exit {r.returncode}, wall {wall:.1f} s, "
          f"CPU user {out['cpu_user_seconds']} s")
    if r.returncode != 0:
        print(r.stderr[-2000:], file=sys.stderr)
    print(f"rerun: {out['command']}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if r.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
