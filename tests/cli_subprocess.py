"""Helpers of the tests that run ``python -m nasx`` in a subprocess and watch its store."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
