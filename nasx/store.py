"""The score store: a SQLite file (no server) that caches every score and records runs.

A score is keyed by (space, space options, arch key, proxy id + version + options, probe-data
fingerprint, seed, device kind, scoring options), so it is never computed twice; the scoring
options (:func:`nasx.scoring.key_options`) hold the scorer's version and every scorer setting that
can change a value (the batch split of split-sensitive proxies, ...). A search killed at any point
resumes from the store (``nasx search`` with the same settings replays its strategy, and every
score it already has comes from the cache). Writes are committed one by one in WAL mode, so a
crash loses at most the score being computed; several processes may share one store (SQLite's
locking; each looks a score up again just before computing it).

Failed scores are stored with their cause and status; callers decide whether to reuse them
(:class:`nasx.api.ScoreService` retries them unless asked to keep them, and never reuses an
out-of-memory failure recorded on another physical device: ``device_name``).

The file is marked as nasx's (``PRAGMA application_id`` and a ``nasx_meta`` table). A file that
is not SQLite, a SQLite file of another application (even one with a ``scores`` table), a
damaged file (``PRAGMA quick_check``) or a store of a newer schema is refused with a
:class:`~nasx.errors.StoreError` and left untouched. A store of the previous schema (no scoring
options in its key) is upgraded in place: its rows are kept in ``scores_v1`` and never served,
since their keys lack what the current keys hold.

Trained results (:mod:`nasx.training`) live in a table ``trained`` keyed by space, space
options, arch key, protocol name, its resolved fields, the overrides given, data fingerprint,
seed and device kind. The table is created when a store is opened (``IF NOT EXISTS``: older
stores gain it without a schema change, and older nasx versions ignore it).

``open_store(None)`` / ``open_store(":memory:")`` gives an in-memory store with the same API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import StoreError
from .records import ScoreKey, ScoreResult

__all__ = ["Store", "ScoreKey", "open_store", "default_store_path", "SCHEMA_VERSION",
           "APPLICATION_ID", "TRAINED_KEY"]

#: ``PRAGMA application_id`` of a nasx store (ASCII "nasx")
APPLICATION_ID = 0x6E617378
#: schema version of the tables below (``nasx_meta.schema``)
SCHEMA_VERSION = 2

#: the columns of one score key, the fields of :class:`~nasx.records.ScoreKey` in order: the
#: primary key of ``scores`` and ``claims``
_KEY_COLUMNS = tuple((f.name, "INTEGER" if f.type in ("int", int) else "TEXT")
                     for f in dataclasses.fields(ScoreKey))
_KEY_DEFS = ",\n    ".join(f"{name:<11} {kind} NOT NULL" for name, kind in _KEY_COLUMNS)
_KEY_NAMES = ", ".join(name for name, _ in _KEY_COLUMNS)
#: the WHERE clause of one score key
_KEY_WHERE = " AND ".join(f"{name}=?" for name, _ in _KEY_COLUMNS)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS nasx_meta (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    {_KEY_DEFS},
    arch        TEXT NOT NULL,
    value       REAL,
    status      TEXT NOT NULL,
    error       TEXT,
    seconds     REAL NOT NULL,
    created     REAL NOT NULL,
    device_name TEXT,
    PRIMARY KEY ({_KEY_NAMES})
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    settings    TEXT NOT NULL,
    state       TEXT,         -- unused, never written: kept so that every store has one layout
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

_TRAINED_SCHEMA = """
CREATE TABLE IF NOT EXISTS trained (
    space       TEXT NOT NULL,
    space_opts  TEXT NOT NULL,
    arch_key    TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    fields      TEXT NOT NULL,
    overrides   TEXT NOT NULL,
    data_fp     TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    device      TEXT NOT NULL,
    arch        TEXT NOT NULL,
    accuracy    REAL,
    result      TEXT NOT NULL,
    created     REAL NOT NULL,
    PRIMARY KEY (space, space_opts, arch_key, protocol, fields, overrides, data_fp, seed, device)
)
"""
_CLAIMS_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS claims (
    {_KEY_DEFS},
    owner       TEXT NOT NULL,
    expires     REAL NOT NULL,
    PRIMARY KEY ({_KEY_NAMES})
)
"""
#: seconds a claim holds when its owner cannot be checked (another host)
CLAIM_LEASE = 3600.0


def claim_owner() -> str:
    """This process's identity in the ``claims`` table: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str) -> bool | None:
    """Whether the process of ``owner`` runs (None: on another host, unknown)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: the key columns of ``trained``, in order
TRAINED_KEY = ("space", "space_opts", "arch_key", "protocol", "fields", "overrides", "data_fp",
               "seed", "device")

#: the tables (and their columns) of a schema-1 store, the only foreign layout nasx upgrades
_V1_TABLES = {
    "scores": ["space", "space_opts", "arch_key", "proxy", "data_fp", "seed", "device", "arch",
               "value", "status", "error", "seconds", "created"],
    "runs": ["run_id", "settings", "state", "status", "result", "created", "updated"],
    "run_evals": ["run_id", "step", "arch", "payload"],
}
_SQLITE_MAGIC = b"SQLite format 3\x00"


def default_store_path() -> Path:
    """``<cache dir>/scores.sqlite`` (see :func:`nasx.data.cache_dir`)."""
    from .data import cache_dir

    return cache_dir() / "scores.sqlite"


def _inspect(path: str) -> str:
    """What the file at ``path`` is: ``new`` (absent or empty), ``nasx``, ``v1`` (a schema-1
    nasx store to upgrade); anything else raises StoreError without writing to the file."""
    p = Path(path)
    if p.is_dir():
        raise StoreError(f"store {path} is a folder, not a file")
    if not p.exists() or p.stat().st_size == 0:
        return "new"
    try:
        with open(p, "rb") as f:
            head = f.read(100)
    except OSError as exc:
        raise StoreError(f"cannot read store {path}: {exc}") from exc
    if len(head) < 100 or head[:16] != _SQLITE_MAGIC:
        raise StoreError(f"{path} is not a nasx store (not an SQLite file); refusing to use it")
    try:
        # as_uri() percent-quotes the path: a '#', '?' or '%' in it stays part of the path
        ro = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=60.0)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {path}: {exc}") from exc
    try:
        app_id = int(ro.execute("PRAGMA application_id").fetchone()[0])
        check = ro.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            found = " ".join(str(check[0]).split())[:200] if check else "no answer"
            raise StoreError(f"store {path} is damaged ({found}); "
                             "move it away (nasx will start a new one) or restore a backup")
        tables = {r[0] for r in ro.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
        if not tables:
            if app_id not in (0, APPLICATION_ID):
                raise StoreError(f"{path} is an SQLite file of another application "
                                 f"(application_id {app_id:#x}); refusing to use it")
            return "new"
        if app_id == APPLICATION_ID and "nasx_meta" in tables:
            row = ro.execute("SELECT value FROM nasx_meta WHERE key='schema'").fetchone()
            version = int(row[0]) if row and str(row[0]).isdigit() else -1
            if version > SCHEMA_VERSION:
                raise StoreError(f"store {path} has schema {version}, newer than this nasx "
                                 f"({SCHEMA_VERSION}); upgrade nasx or use another --store")
            if version != SCHEMA_VERSION:
                raise StoreError(f"store {path} has an unknown schema ({row!r}); refusing it")
            return "nasx"
        cols = {t: [r[1] for r in ro.execute(f"PRAGMA table_info({t})")] for t in tables}
        if app_id == 0 and tables == set(_V1_TABLES) and all(
                cols[t] == c for t, c in _V1_TABLES.items()):
            return "v1"
        raise StoreError(f"{path} is an SQLite file that is not a nasx store (tables: "
                         f"{', '.join(sorted(tables))}); refusing to use it")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"store {path} cannot be read ({exc}); is it a damaged nasx store?") \
            from exc
    finally:
        ro.close()


class Store:
    """Score cache and run records in one SQLite database (thread-safe)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = ":memory:" if path in (None, ":memory:") else str(Path(path).expanduser())
        kind = "new"
        if self.path != ":memory:":
            kind = _inspect(self.path)
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of store {self.path}: {exc}") from exc
            if Path(self.path).exists() and not os.access(self.path, os.W_OK):
                raise StoreError(f"store {self.path} is read-only; make it writable or pass "
                                 "another --store (or --no-store)")
            if not os.access(Path(self.path).parent, os.W_OK):
                raise StoreError(f"the folder of store {self.path} is not writable (SQLite "
                                 "needs it for its journal); pass another --store")
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60.0)
            self._db.execute("PRAGMA busy_timeout=60000")
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if kind == "v1":
                self._upgrade_v1()
            if kind in ("new", "v1"):
                self._db.execute("BEGIN IMMEDIATE")
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                self._db.execute("INSERT OR IGNORE INTO nasx_meta VALUES ('schema', ?)",
                                 (str(SCHEMA_VERSION),))
                self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                self._db.commit()
            self._db.execute(_TRAINED_SCHEMA)
            self._db.execute(_CLAIMS_SCHEMA)
            self._db.commit()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc

    def _upgrade_v1(self) -> None:
        """Keep a schema-1 store's scores aside (``scores_v1``, never served) and its runs."""
        self._db.execute("BEGIN IMMEDIATE")
        names = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "scores" in names and "scores_v1" not in names:
            self._db.execute("ALTER TABLE scores RENAME TO scores_v1")
        self._db.commit()

    @contextlib.contextmanager
    def _guard(self, what: str = "use") -> Iterator[None]:
        """SQLite errors become StoreError (an uncommitted write is rolled back)."""
        try:
            yield
        except sqlite3.Error as exc:
            self._rollback()
            raise self._fail(exc, what) from exc

    def _fail(self, exc: sqlite3.Error, what: str = "write to") -> StoreError:
        return StoreError(f"cannot {what} store {self.path}: {exc}")

    # -- scores ---------------------------------------------------------------------------------
    def get(self, key: ScoreKey, higher_is_better: bool = True) -> ScoreResult | None:
        hit = self.get_record(key, higher_is_better)
        return None if hit is None else hit[0]

    def get_record(self, key: ScoreKey,
                   higher_is_better: bool = True) -> tuple[ScoreResult, str | None] | None:
        """The stored result and the physical device it was computed on (or None)."""
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT arch, value, status, error, seconds, device_name FROM scores WHERE "
                    + _KEY_WHERE, key.as_tuple(),
                ).fetchone()
            except sqlite3.Error as exc:
                raise self._fail(exc, "read") from exc
        if row is None:
            return None
        arch, value, status, error, seconds, device_name = row
        return (ScoreResult(arch, key.proxy.split("@")[0], value, status, error, seconds,
                            cached=True, higher_is_better=higher_is_better), device_name)

    def put(self, key: ScoreKey, result: ScoreResult, device_name: str | None = None) -> None:
        value = result.value
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (*key.as_tuple(), result.arch, value, result.status, result.error,
                     result.seconds, time.time(), device_name),
                )
                self._db.execute(f"DELETE FROM claims WHERE {_KEY_WHERE}", key.as_tuple())
                self._db.commit()
            except sqlite3.Error as exc:
                self._rollback()
                raise self._fail(exc) from exc

    def claim(self, keys: Sequence[ScoreKey], owner: str | None = None,
              lease: float = CLAIM_LEASE) -> bool:
        """Claim ``keys`` for computing, all or none: False while another process that still
        runs (on this host; elsewhere: within its lease) holds a claim on one of them. A claim
        ends when its score is stored (:meth:`put`) or :meth:`release` d.

        Two processes scoring the same architectures on one store so compute each score once:
        the second waits for the first's claim instead of computing it too."""
        owner = owner or claim_owner()
        now = time.time()
        with self._lock, self._guard("claim in"):
            self._db.execute("BEGIN IMMEDIATE")
            for key in keys:
                row = self._db.execute(f"SELECT owner, expires FROM claims WHERE {_KEY_WHERE}",
                                       key.as_tuple()).fetchone()
                if row is None or row[0] == owner:
                    continue
                alive = _owner_alive(row[0])
                if alive or (alive is None and row[1] > now):
                    self._db.rollback()
                    return False
            self._db.executemany("INSERT OR REPLACE INTO claims VALUES (?,?,?,?,?,?,?,?,?,?)",
                                 [(*k.as_tuple(), owner, now + lease) for k in keys])
            self._db.commit()
        return True

    def release(self, keys: Sequence[ScoreKey], owner: str | None = None) -> None:
        """End this process's claims on ``keys`` (a computation that stored nothing)."""
        owner = owner or claim_owner()
        with self._lock, self._guard("write to"):
            self._db.executemany(f"DELETE FROM claims WHERE {_KEY_WHERE} AND owner=?",
                                 [(*k.as_tuple(), owner) for k in keys])
            self._db.commit()

    def _rollback(self) -> None:
        try:
            self._db.rollback()
        except sqlite3.Error:
            pass

    def count(self) -> int:
        with self._lock:
            try:
                return int(self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])
            except sqlite3.Error as exc:
                raise self._fail(exc, "read") from exc

    def integrity(self) -> str:
        """``PRAGMA integrity_check`` of the file (``"ok"`` when sound)."""
        with self._lock:
            try:
                return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])
            except sqlite3.Error as exc:
                raise self._fail(exc, "check") from exc

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
        with self._lock, self._guard():
            rows = self._db.execute(q, args).fetchall()
        cols = ("space", "arch", "proxy", "value", "status", "data_fp", "seed", "device")
        for r in rows:
            yield dict(zip(cols, r))

    # -- trained results ------------------------------------------------------------------------
    def trained_get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        """The stored training result (a JSON object) of ``key`` (the :data:`TRAINED_KEY`
        columns), or None."""
        with self._lock, self._guard("read"):
            row = self._db.execute(
                "SELECT result FROM trained WHERE " + " AND ".join(f"{c}=?" for c in TRAINED_KEY),
                tuple(key[c] for c in TRAINED_KEY),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def trained_put(self, key: dict[str, Any], arch: str, accuracy: float | None,
                    result: dict[str, Any]) -> None:
        """Store (or replace) a training result under ``key``."""
        with self._lock, self._guard():
            self._db.execute(
                "INSERT OR REPLACE INTO trained VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (*(key[c] for c in TRAINED_KEY), arch, accuracy,
                 json.dumps(result, sort_keys=True), time.time()),
            )
            self._db.commit()

    def trained_rows(self, **where: Any) -> list[dict[str, Any]]:
        """Rows of ``trained`` (key columns, ``arch``, ``accuracy``, ``created``) whose columns
        equal the given values (any of :data:`TRAINED_KEY`), oldest first."""
        bad = sorted(set(where) - set(TRAINED_KEY))
        if bad:
            raise StoreError(f"unknown trained-result column(s) {bad}; known: {TRAINED_KEY}")
        cols = (*TRAINED_KEY, "arch", "accuracy", "created")
        q = f"SELECT {', '.join(cols)} FROM trained"
        if where:
            q += " WHERE " + " AND ".join(f"{c}=?" for c in where)
        with self._lock, self._guard("read"):
            rows = self._db.execute(q + " ORDER BY created", tuple(where.values())).fetchall()
        return [dict(zip(cols, r)) for r in rows]

    # -- runs -------------------------------------------------------------------------------------
    def run_get(self, run_id: str) -> dict[str, Any] | None:
        with self._lock, self._guard():
            row = self._db.execute(
                "SELECT settings, status, result FROM runs WHERE run_id=?", (run_id,)
            ).fetchone()
        if row is None:
            return None
        settings, status, result = row
        return {
            "run_id": run_id,
            "settings": json.loads(settings),
            "status": status,
            "result": json.loads(result) if result else None,
        }

    def run_start(self, run_id: str, settings: dict[str, Any]) -> None:
        now = time.time()
        with self._lock, self._guard():
            self._db.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET "
                "status='running', updated=excluded.updated",
                (run_id, json.dumps(settings, sort_keys=True), None, "running", None, now, now),
            )
            self._db.commit()

    def run_record(self, run_id: str, step: int, arch: str, payload: dict[str, Any]) -> None:
        """Record one evaluation of a run (a run resumes by replay, not from a saved state)."""
        with self._lock, self._guard():
            self._db.execute(
                "INSERT OR REPLACE INTO run_evals VALUES (?,?,?,?)",
                (run_id, step, arch, json.dumps(payload)),
            )
            self._db.commit()

    def run_evals(self, run_id: str) -> list[dict[str, Any]]:
        with self._lock, self._guard():
            rows = self._db.execute(
                "SELECT step, arch, payload FROM run_evals WHERE run_id=? ORDER BY step",
                (run_id,),
            ).fetchall()
        return [{"step": s, "arch": a, **json.loads(p)} for s, a, p in rows]

    def run_finish(self, run_id: str, result: dict[str, Any]) -> None:
        with self._lock, self._guard():
            self._db.execute(
                "UPDATE runs SET status='finished', result=?, updated=? WHERE run_id=?",
                (json.dumps(result), time.time(), run_id),
            )
            self._db.commit()

    def runs(self) -> list[dict[str, Any]]:
        with self._lock, self._guard():
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

