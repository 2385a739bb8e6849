"""Store files that nasx cannot use (read-only, damaged, foreign, old schema) are refused and
left untouched, or upgraded without serving stale scores."""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
from pathlib import Path

import pytest

from nasx.errors import StoreError
from nasx.scoring import ScoreResult
from nasx.store import ScoreKey, Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_subprocess import (  # noqa: E402
    CELL,
    TINY,
    assert_one_line_error,
    digest,
    run,
)


# -- store files --------------------------------------------------------------------------------
def _make_store(path: Path, n: int = 40) -> None:
    with Store(path) as st:
        for i in range(n):
            st.put(ScoreKey("s", "{}", f"a{i}", "p@1", "fp", 0, "cpu", "{}"),
                   ScoreResult(f"a{i}", "p", float(i)))


def test_read_only_store_file(capsys, tmp_path):
    path = tmp_path / "ro.sqlite"
    _make_store(path)
    path.chmod(stat.S_IRUSR)
    try:
        if os.access(path, os.W_OK):
            pytest.skip("running as root: a read-only file is still writable")
        before = digest(path)
        code, _, err = run(capsys, "score", *TINY, "--store", str(path), CELL)
        assert_one_line_error(code, err, "read-only")
        assert digest(path) == before
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_store_with_a_zeroed_page_is_refused_untouched(capsys, tmp_path):
    path = tmp_path / "z.sqlite"
    _make_store(path, 400)
    with sqlite3.connect(path) as db:  # fold the WAL into the file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) >= 3 * page
    data[2 * page:3 * page] = bytes(page)
    path.write_bytes(bytes(data))
    before = digest(path)
    with pytest.raises(StoreError, match="damaged|cannot be read"):
        Store(path)
    code, _, err = run(capsys, "score", *TINY, "--store", str(path), CELL)
    assert_one_line_error(code, err, str(path))
    assert digest(path) == before


@pytest.mark.parametrize("schema", [
    "CREATE TABLE scores (id INTEGER PRIMARY KEY, player TEXT, points REAL)",
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
    "CREATE TABLE scores (space TEXT, arch TEXT); CREATE TABLE runs (x TEXT)",
])
def test_foreign_sqlite_files_are_refused_and_not_modified(capsys, tmp_path, schema):
    path = tmp_path / "foreign.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(schema)
    before = digest(path)
    with pytest.raises(StoreError, match="not a nasx store"):
        Store(path)
    code, _, err = run(capsys, "score", *TINY, "--store", str(path), CELL)
    assert_one_line_error(code, err, "not a nasx store")
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.sqlite"]


def test_non_sqlite_file_and_folder_as_store(capsys, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 50)
    before = digest(text)
    for path, needle in ((text, "not an SQLite file"), (tmp_path, "folder")):
        code, _, err = run(capsys, "score", *TINY, "--store", str(path), CELL)
        assert_one_line_error(code, err, needle)
    assert digest(text) == before


def test_schema_1_store_is_upgraded_and_its_scores_not_served(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE scores (space TEXT NOT NULL, space_opts TEXT NOT NULL,
                arch_key TEXT NOT NULL, proxy TEXT NOT NULL, data_fp TEXT NOT NULL,
                seed INTEGER NOT NULL, device TEXT NOT NULL, arch TEXT NOT NULL, value REAL,
                status TEXT NOT NULL, error TEXT, seconds REAL NOT NULL, created REAL NOT NULL,
                PRIMARY KEY (space, space_opts, arch_key, proxy, data_fp, seed, device));
            CREATE TABLE runs (run_id TEXT PRIMARY KEY, settings TEXT NOT NULL, state TEXT,
                status TEXT NOT NULL, result TEXT, created REAL NOT NULL,
                updated REAL NOT NULL);
            CREATE TABLE run_evals (run_id TEXT NOT NULL, step INTEGER NOT NULL,
                arch TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (run_id, step));
            INSERT INTO scores VALUES ('s','{}','a','p@1','fp',0,'cpu','a',1.0,'ok',NULL,0,0);
        """)
    with Store(path) as st:
        assert st.count() == 0 and st.integrity() == "ok"
        assert st.get(ScoreKey("s", "{}", "a", "p@1", "fp", 0, "cpu", "")) is None
    with sqlite3.connect(path) as db:  # kept aside, not lost
        assert db.execute("SELECT COUNT(*) FROM scores_v1").fetchone()[0] == 1
    Store(path).close()  # opens again as a current store
