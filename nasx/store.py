"""The score store: a SQLite file (no server) that caches every score and records runs.

A score is keyed by (space, space options, arch key, proxy id + version + options, probe-data
fingerprint, seed, device kind), so it is never computed twice; a search killed at any point
resumes from the store (``nasx search`` with the same settings replays its strategy, and every
score it already has comes from the cache). Writes are committed one by one in WAL mode, so a
crash loses at most the score being computed.

``open_store(None)`` / ``open_store(":memory:")`` gives an in-memory store with the same API.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import StoreError
from .scoring import ScoreResult

__all__ = ["Store", "ScoreKey", "open_store", "default_store_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    space       TEXT NOT NULL,
    space_opts  TEXT NOT NULL,
    arch_key    TEXT NOT NULL,
    proxy       TEXT NOT NULL,
    data_fp     TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    device      TEXT NOT NULL,
    arch        TEXT NOT NULL,
    value       REAL,
    status      TEXT NOT NULL,
    error       TEXT,
    seconds     REAL NOT NULL,
    created     REAL NOT NULL,
    PRIMARY KEY (space, space_opts, arch_key, proxy, data_fp, seed, device)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    settings    TEXT NOT NULL,
    state       TEXT,
    status      TEXT NOT NULL,
    result      TEXT,
    created     REAL NOT NULL,
    updated     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS run_evals (
    run_id      TEXT NOT NULL,
    step        INTEGER NOT NULL,
    arch        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    PRIMARY KEY (run_id, step)
);
"""


def default_store_path() -> Path:
    """``<cache dir>/scores.sqlite`` (see :func:`nasx.data.cache_dir`)."""
    from .data import cache_dir

    return cache_dir() / "scores.sqlite"


@dataclass(frozen=True)
class ScoreKey:
    """Everything a cached score depends on."""

    space: str
    space_opts: str
    arch_key: str
    proxy: str
    data_fp: str
    seed: int
    device: str


class Store:
    """Score cache and run records in one SQLite database (thread-safe)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = ":memory:" if path in (None, ":memory:") else str(Path(path).expanduser())
        if self.path != ":memory:":
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of store {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60.0)
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.commit()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc

    # -- scores ---------------------------------------------------------------------------------
    def get(self, key: ScoreKey, higher_is_better: bool = True) -> ScoreResult | None:
        with self._lock:
            row = self._db.execute(
                "SELECT arch, value, status, error, seconds FROM scores WHERE space=? AND "
                "space_opts=? AND arch_key=? AND proxy=? AND data_fp=? AND seed=? AND device=?",
                (key.space, key.space_opts, key.arch_key, key.proxy, key.data_fp, key.seed,
                 key.device),
            ).fetchone()
        if row is None:
            return None
        arch, value, status, error, seconds = row
        return ScoreResult(arch, key.proxy.split("@")[0], value, status, error, seconds,
                           cached=True, higher_is_better=higher_is_better)

    def put(self, key: ScoreKey, result: ScoreResult) -> None:
        value = result.value
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (key.space, key.space_opts, key.arch_key, key.proxy, key.data_fp, key.seed,
                     key.device, result.arch, value, result.status, result.error,
                     result.seconds, time.time()),
                )
                self._db.commit()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to store {self.path}: {exc}") from exc

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])

    def scores(self, space: str | None = None, proxy: str | None = None) -> Iterator[dict]:
        q = "SELECT space, arch, proxy, value, status, data_fp, seed, device FROM scores"
        cond, args = [], []
        if space:
            cond.append("space=?")
            args.append(space)
        if proxy:
            cond.append("proxy LIKE ?")
            args.append(proxy + "@%")
        if cond:
            q += " WHERE " + " AND ".join(cond)
        with self._lock:
            rows = self._db.execute(q, args).fetchall()
        cols = ("space", "arch", "proxy", "value", "status", "data_fp", "seed", "device")
        for r in rows:
            yield dict(zip(cols, r))

    # -- runs -------------------------------------------------------------------------------------
    def run_get(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT settings, state, status, result FROM runs WHERE run_id=?", (run_id,)
            ).fetchone()
        if row is None:
            return None
        settings, state, status, result = row
        return {
            "run_id": run_id,
            "settings": json.loads(settings),
            "state": json.loads(state) if state else None,
            "status": status,
            "result": json.loads(result) if result else None,
        }

    def run_start(self, run_id: str, settings: dict[str, Any]) -> None:
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET "
                "status='running', updated=excluded.updated",
                (run_id, json.dumps(settings, sort_keys=True), None, "running", None, now, now),
            )
            self._db.commit()

    def run_record(self, run_id: str, step: int, arch: str, payload: dict[str, Any],
                   state: dict[str, Any] | None = None) -> None:
        """Record one evaluation of a run (and optionally the strategy state) atomically."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO run_evals VALUES (?,?,?,?)",
                    (run_id, step, arch, json.dumps(payload)),
                )
                if state is not None:
                    self._db.execute(
                        "UPDATE runs SET state=?, updated=? WHERE run_id=?",
                        (json.dumps(state), time.time(), run_id),
                    )
                self._db.commit()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to store {self.path}: {exc}") from exc

    def run_evals(self, run_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT step, arch, payload FROM run_evals WHERE run_id=? ORDER BY step",
                (run_id,),
            ).fetchall()
        return [{"step": s, "arch": a, **json.loads(p)} for s, a, p in rows]

    def run_finish(self, run_id: str, result: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE runs SET status='finished', result=?, updated=? WHERE run_id=?",
                (json.dumps(result), time.time(), run_id),
            )
            self._db.commit()

    def runs(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id, status, created, updated FROM runs ORDER BY created"
            ).fetchall()
        return [dict(zip(("run_id", "status", "created", "updated"), r)) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_store(path: str | os.PathLike[str] | Store | None) -> Store:
    """A store from a path (``sqlite:///path`` accepted), ``:memory:``/None, or a Store."""
    if isinstance(path, Store):
        return path
    if isinstance(path, str) and path.startswith("sqlite:///"):
        path = path[len("sqlite:///"):]
    return Store(path)


def iter_chunks(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    buf: list[Any] = []
    for it in items:
        buf.append(it)
        if len(buf) == n:
            yield buf
            buf = []
    if buf:
        yield buf
