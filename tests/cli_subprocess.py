"""Helpers of the command-line tests: running ``nasx`` in-process (:func:`run`) or in a
subprocess (:func:`cli_env`), checking one-line errors, and watching a store."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import time
from pathlib import Path

from nasx.cli.main import main

REPO = Path(__file__).resolve().parents[1]

#: a tiny NAS-Bench-201 on synthetic data, for commands that must run fast
TINY = ["--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
        "--space-opt", "input_size=8", "--data", "synthetic", "--batch-size", "16"]
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def run(capsys, *argv):
    """``nasx ARGV`` in this process: (exit status, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    """Exit status 2 with exactly one ``nasx: error:`` line naming every needle."""
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("nasx: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a ``python -m nasx`` subprocess: one torch thread, this checkout
    first on the import path, plus ``extra``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **extra)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def stored_scores(store: Path) -> int:
    """Rows in the store's score table, read-only; 0 while the file or its schema does not
    exist yet (or cannot be read at this moment)."""
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_for_scores(store: Path, n: int, proc: subprocess.Popen, timeout: float = 300.0
                    ) -> None:
    """Wait until ``store`` holds ``n`` scores, failing when ``proc`` ends first or nothing
    progresses for ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while stored_scores(store) < n:
        assert proc.poll() is None, "the search ended before the scores were stored"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)
