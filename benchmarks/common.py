"""What the benchmark scripts share: the repository, the shared data folder, and results files.

* :data:`REPO`: the repository root (scripts import this checkout's nasx, see below).
* :func:`shared_root`: the ground-truth data folder (``--data``, else ``$NASX_SHARED_DATA``,
  else ``../shared/data`` beside the repository); :func:`shared_file` exits with a message
  naming the missing file.
* :func:`write_results`: a results JSON with the command that made it and the environment it
  ran in, written atomically (a crash leaves the previous file).

Scripts run from the repository root (``python benchmarks/NAME.py``) import this module as
``from common import ...`` (Python puts the script's folder first on ``sys.path``) and put the
repository first on ``sys.path`` so that this checkout's nasx is measured, not an installed one.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

__all__ = ["REPO", "shared_root", "shared_file", "environment", "command", "write_results",
           "parse_ints"]


def shared_root(arg: str | os.PathLike[str] | None = None) -> Path:
    """The shared data folder: ``arg``, else ``$NASX_SHARED_DATA``, else ``../shared/data``."""
    if arg:
        return Path(arg).expanduser().resolve()
    env = os.environ.get("NASX_SHARED_DATA")
    return Path(env).expanduser().resolve() if env else (REPO.parent / "shared" / "data").resolve()


def shared_file(*parts: str, root: str | os.PathLike[str] | None = None) -> Path:
    """A file of the shared data folder; exits with a message when it is missing."""
    path = shared_root(root).joinpath(*parts)
    if not path.exists():
        sys.exit(f"missing {path}; pass --data or set NASX_SHARED_DATA to the shared data folder")
    return path


def environment() -> dict[str, Any]:
    """Versions and machine facts a figure depends on."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import torch

        env.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                   cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    try:
        import numpy

        env["numpy"] = numpy.__version__
    except ImportError:  # pragma: no cover
        pass
    return env


def command(argv: list[str] | None = None) -> str:
    """The command line that reruns this script (from the repository root)."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(REPO))
    except ValueError:
        script_text = str(script)
    args = sys.argv[1:] if argv is None else argv
    return shlex.join(["python", script_text, *args])


def write_results(path: str | os.PathLike[str], doc: dict[str, Any],
                  argv: list[str] | None = None) -> Path:
    """Write ``doc`` as JSON to ``path`` (relative paths: from the repository root), adding
    ``command`` and ``environment`` unless given; atomic (a temporary file, then a rename)."""
    out = Path(path)
    if not out.is_absolute():
        out = REPO / out
    full = {"command": command(argv), "environment": environment(), **doc}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(full, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out


def parse_ints(text: str) -> list[int]:
    """``0-4`` or ``3,5,10`` (ranges and lists, mixed) as a list of ints."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out
