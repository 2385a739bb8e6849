from __future__ import annotations

import sqlite3

import pytest

from nasx.errors import StoreError
from nasx.scoring import ScoreResult
from nasx.store import ScoreKey, Store, open_store


def _key(arch="a", proxy="p@1", seed=0):
    return ScoreKey("space", "{}", arch, proxy, "fp", seed, "cpu")


def test_put_get_roundtrip(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        st.put(_key(), ScoreResult("a", "p", 1.5, seconds=0.2))
        st.put(_key("b"), ScoreResult("b", "p", None, "failed", "boom", 0.1))
    with open_store(f"sqlite:///{path}") as st:
        hit = st.get(_key())
        assert hit.value == 1.5 and hit.cached and hit.ok
        miss = st.get(_key(seed=1))
        assert miss is None
        failed = st.get(_key("b"))
        assert failed.status == "failed" and failed.error == "boom" and not failed.ok
        assert st.count() == 2


def test_runs_are_recorded(tmp_path):
    st = Store(tmp_path / "r.sqlite")
    st.run_start("r1", {"a": 1})
    st.run_record("r1", 0, "x", {"fitness": 1.0})
    st.run_record("r1", 1, "y", {"fitness": 2.0})
    assert [e["arch"] for e in st.run_evals("r1")] == ["x", "y"]
    info = st.run_get("r1")
    assert info["status"] == "running"
    st.run_finish("r1", {"best": "y"})
    assert st.run_get("r1")["result"] == {"best": "y"}


def test_memory_store():
    st = open_store(None)
    st.put(_key(), ScoreResult("a", "p", 2.0))
    assert st.get(_key()).value == 2.0


def test_unwritable_store(tmp_path):
    bad = tmp_path / "file"
    bad.write_text("x")
    with pytest.raises(StoreError):
        Store(bad / "sub" / "s.sqlite")


def test_corrupt_store(tmp_path):
    p = tmp_path / "c.sqlite"
    p.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError):
        Store(p)


def test_store_is_sqlite(tmp_path):
    p = tmp_path / "x.sqlite"
    Store(p).put(_key(), ScoreResult("a", "p", 3.0))
    rows = sqlite3.connect(p).execute("SELECT value FROM scores").fetchall()
    assert rows == [(3.0,)]


def _claim_key(arch: str) -> ScoreKey:
    return ScoreKey("toy", "{}", arch, "p@1", "fp", 0, "cpu", "{}")


def test_claims_are_exclusive_between_live_owners_and_end_with_the_score(tmp_path):
    import os
    import socket

    path = tmp_path / "c.sqlite"
    with Store(path) as a, Store(path) as b:
        me = f"{socket.gethostname()}:{os.getpid()}"
        other = f"{socket.gethostname()}:{os.getppid()}"  # a live process of this host
        assert a.claim([_claim_key("x"), _claim_key("y")], owner=other)
        assert not b.claim([_claim_key("y")], owner=me)  # held by a live process
        assert b.claim([_claim_key("z")], owner=me)  # other keys are free
        a.put(_claim_key("y"), ScoreResult("y", "p", 1.0))  # the score ends its claim
        assert b.claim([_claim_key("y")], owner=me)
        a.release([_claim_key("x")], owner=other)
        assert b.claim([_claim_key("x")], owner=me)


def test_claims_of_dead_or_expired_owners_are_taken_over(tmp_path):
    import socket

    with Store(tmp_path / "c.sqlite") as st:
        dead = f"{socket.gethostname()}:999999999"  # no such process
        assert st.claim([_claim_key("x")], owner=dead)
        assert st.claim([_claim_key("x")], owner="me:1")
        assert st.claim([_claim_key("y")], owner="elsewhere:7", lease=-1.0)  # expired already
        assert st.claim([_claim_key("y")], owner="me:1")
        assert st.claim([_claim_key("z")], owner="elsewhere:7", lease=60.0)
        assert not st.claim([_claim_key("z")], owner="me:1")  # another host, within its lease
