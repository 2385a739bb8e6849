"""Bad input and injected faults: every case ends in a one-line error (exit 2) or a recorded
failure, never a traceback, a silent wrong score or a damaged store."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import nasx
from nasx.cli.main import main
from nasx.errors import ConfigError, StoreError
from nasx.proxies.base import register_proxy
from nasx.registry import proxies
from nasx.scoring import ScoreResult
from nasx.store import ScoreKey, Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_subprocess import cli_env, stored_scores  # noqa: E402

TINY = ["--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
        "--space-opt", "input_size=8", "--data", "synthetic", "--batch-size", "16"]
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("nasx: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- flags --------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,needle", [
    (["--seed", "-1"], "seed"),
    (["--data-seed", "-2"], "data seed"),
    (["--chunk-size", "0"], "chunk size"),
    (["--chunk-size", "-4"], "chunk size"),
    (["--batch-size", "0"], "batch size"),
])
@pytest.mark.parametrize("cmd", ["score", "search"])
def test_bad_numbers_are_one_line_errors(capsys, cmd, argv, needle):
    extra = [CELL] if cmd == "score" else ["--budget", "1"]
    code, out, err = run(capsys, cmd, *TINY, "--no-store", *argv, *extra)
    assert_one_line_error(code, err, needle)
    assert out == ""


def test_unavailable_mps_is_a_one_line_error(capsys):
    import torch

    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        pytest.skip("MPS is available here")
    code, _, err = run(capsys, "score", *TINY, "--no-store", "--device", "mps", CELL)
    assert_one_line_error(code, err, "MPS")


def test_nasbench201_input_size_not_a_multiple_of_4(capsys):
    for size in (7, 6, 10):
        with pytest.raises(ConfigError, match="multiple of 4"):
            nasx.api.make_space("nasbench201", C=8, N=1, input_size=size)
    code, _, err = run(capsys, "score", "--space", "nasbench201", "--space-opt", "input_size=7",
                       "--data", "synthetic", "--no-store", CELL)
    assert_one_line_error(code, err, "multiple of 4")


# -- input files --------------------------------------------------------------------------------
def test_non_utf8_yaml_config(capsys, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes("budget: 3\nspace: nasbench201 # caf\xe9\n".encode("latin-1"))
    code, _, err = run(capsys, "search", "--config", str(cfg))
    assert_one_line_error(code, err, "UTF-8")


@pytest.mark.parametrize("content", [
    "arch,accuracy\n" + CELL + ",91.5 caf\xe9\n",  # latin-1 text
    "arch,accuracy\n\x00\x00\xff\xfe\n",  # binary junk
])
def test_non_utf8_truth_csv(capsys, tmp_path, content):
    csv = tmp_path / "t.csv"
    csv.write_bytes(content.encode("latin-1"))
    code, _, err = run(capsys, "eval", *TINY, "--no-store", "--truth", str(csv))
    assert_one_line_error(code, err, "t.csv")


def test_score_file_missing_folder_binary(capsys, tmp_path):
    binary = tmp_path / "b.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    latin = tmp_path / "l.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    for path, needle in ((tmp_path / "nope.txt", "no such file"), (tmp_path, "folder"),
                         (binary, "binary"), (latin, "UTF-8")):
        code, out, err = run(capsys, "score", *TINY, "--no-store", "--file", str(path))
        assert_one_line_error(code, err, "--file", needle)
        assert out == ""


@pytest.mark.parametrize("flag", ["--csv", "--plot"])
def test_unwritable_eval_outputs_fail_before_scoring(capsys, tmp_path, flag, monkeypatch):
    truth = tmp_path / "t.csv"
    truth.write_text(f"arch,accuracy\n{CELL},90\n"
                     "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,10\n")
    scored = []
    import nasx.api

    real = nasx.api.ScoreService.score
    monkeypatch.setattr(nasx.api.ScoreService, "score",
                        lambda self, archs: scored.append(1) or real(self, archs))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        targets = [tmp_path / "missing" / "x.out", tmp_path]
        if not os.access(ro, os.W_OK):  # root writes anywhere: the case cannot be made
            targets.append(ro / "x.out")
        for target in targets:
            code, _, err = run(capsys, "eval", *TINY, "--no-store", "--truth", str(truth),
                               flag, str(target))
            assert_one_line_error(code, err, flag)
    finally:
        ro.chmod(stat.S_IRWXU)
    assert scored == []


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
        before = _digest(path)
        code, _, err = run(capsys, "score", *TINY, "--store", str(path), CELL)
        assert_one_line_error(code, err, "read-only")
        assert _digest(path) == before
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
    before = _digest(path)
    with pytest.raises(StoreError, match="damaged|cannot be read"):
        Store(path)
    code, _, err = run(capsys, "score", *TINY, "--store", str(path), CELL)
    assert_one_line_error(code, err, str(path))
    assert _digest(path) == before


@pytest.mark.parametrize("schema", [
    "CREATE TABLE scores (id INTEGER PRIMARY KEY, player TEXT, points REAL)",
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
    "CREATE TABLE scores (space TEXT, arch TEXT); CREATE TABLE runs (x TEXT)",
])
def test_foreign_sqlite_files_are_refused_and_not_modified(capsys, tmp_path, schema):
    path = tmp_path / "foreign.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(schema)
    before = _digest(path)
    with pytest.raises(StoreError, match="not a nasx store"):
        Store(path)
    code, _, err = run(capsys, "score", *TINY, "--store", str(path), CELL)
    assert_one_line_error(code, err, "not a nasx store")
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign.sqlite"]


def test_non_sqlite_file_and_folder_as_store(capsys, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 50)
    before = _digest(text)
    for path, needle in ((text, "not an SQLite file"), (tmp_path, "folder")):
        code, _, err = run(capsys, "score", *TINY, "--store", str(path), CELL)
        assert_one_line_error(code, err, needle)
    assert _digest(text) == before


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


# -- failures in the store ----------------------------------------------------------------------
@pytest.fixture
def flaky_proxy():
    calls = []

    def flaky(model, batch, ctx):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("transient failure")
        return 1.25

    register_proxy("t-flaky", higher_is_better=True, needs=("none",), replace=True)(flaky)
    yield calls
    proxies.remove("t-flaky")


def test_failures_are_stored_but_retried_unless_kept(tmp_path, flaky_proxy):
    store = tmp_path / "s.sqlite"
    kw = dict(space="nasbench201", proxy="t-flaky", data="synthetic", batch_size=16,
              space_opts={"C": 8, "N": 1, "input_size": 8}, device="cpu", store=str(store))
    r1 = nasx.score(CELL, **kw)
    assert r1.status == "failed" and "transient" in r1.error
    kept = nasx.score(CELL, keep_failures=True, **kw)
    assert kept.status == "failed" and kept.cached and len(flaky_proxy) == 1
    r2 = nasx.score(CELL, **kw)
    assert r2.ok and r2.value == 1.25 and not r2.cached and len(flaky_proxy) == 2
    r3 = nasx.score(CELL, **kw)
    assert r3.ok and r3.cached and len(flaky_proxy) == 2


def test_oom_is_never_reused_on_another_device(tmp_path):
    from nasx.api import ScoreService, make_space
    from nasx.data import draw_batch, synthetic_dataset
    from nasx.proxies.base import get_proxy

    with pytest.warns(UserWarning):
        batch = draw_batch(synthetic_dataset(num_classes=4, n_per_class=4, size=8), 16, 0)
    space = make_space("nasbench201", C=8, N=1, input_size=8)
    spec = get_proxy("params")
    with Store(tmp_path / "s.sqlite") as st:
        svc = ScoreService(space, [spec], batch, device="cpu", store=st, keep_failures=True)
        arch = space.parse(CELL)
        st.put(svc.key(arch, spec), ScoreResult(CELL, "params", None, "oom", "out of memory"),
               device_name="cuda:Some Small GPU:8000MiB")
        r = svc.score([arch])[0]["params"]
        assert r.ok and not r.cached  # recomputed here, not served from the small GPU
        st.put(svc.key(arch, spec), ScoreResult(CELL, "params", None, "oom", "out of memory"),
               device_name="cpu")
        assert svc.score([arch])[0]["params"].status == "oom"  # same device: kept


# -- user proxies that misbehave during a search ------------------------------------------------
def test_search_goes_on_past_raising_nan_and_non_number_proxies(tmp_path):
    calls = []

    def moody(model, batch, ctx):
        n = sum(p.numel() for p in model.parameters())
        calls.append(n)
        kind = len(calls) % 4
        if kind == 0:
            raise ValueError("moody proxy")
        if kind == 1:
            return float("nan")
        if kind == 2:
            return {"not": "a number"}
        return float(n)

    register_proxy("t-moody", higher_is_better=True, needs=("none",), replace=True)(moody)
    try:
        r = nasx.search("nasbench201", "t-moody", "random", budget=30, data="synthetic",
                        batch_size=16, space_opts={"C": 8, "N": 1, "input_size": 8},
                        device="cpu", store=str(tmp_path / "s.sqlite"), seed=1)
        assert r.evaluated == 30 and 0 < r.failed < 30
        with Store(tmp_path / "s.sqlite") as st:
            statuses = {row["status"] for row in st.scores()}
        assert {"ok"} < statuses and statuses <= {"ok", "failed", "nonfinite"}
    finally:
        proxies.remove("t-moody")


# -- signals and concurrent processes ----------------------------------------------------------


def _search_cmd(store: Path, budget: int) -> list[str]:
    return [sys.executable, "-m", "nasx", "search", *TINY, "--proxy", "gradalign-i",
            "--budget", str(budget), "--seed", "4", "--store", str(store), "--json", "--quiet"]


def _wait_for(store: Path, n: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 240
    while stored_scores(store) < n:
        assert proc.poll() is None, "the search ended before the signal"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_signals_lose_at_most_the_evaluation_in_flight(tmp_path, sig):
    store = tmp_path / "s.sqlite"
    proc = subprocess.Popen(_search_cmd(store, 200), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=tmp_path)
    try:
        _wait_for(store, 3, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stored = stored_scores(store)
    assert stored >= 3
    with Store(store) as st:
        assert st.integrity() == "ok"
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        partial = json.loads(out)
        assert partial["stopped_by"] == "interrupted" and partial["best"]
        assert partial["evaluated"] >= 3 and math.isfinite(partial["score"])
        assert "interrupted" in err and "Traceback" not in err
        # everything it evaluated is stored
        assert partial["evaluated"] <= stored
    else:
        assert proc.returncode == -signal.SIGKILL
    # the same command again: every stored score is reused, none computed twice
    again = subprocess.run(_search_cmd(store, stored + 2), capture_output=True, text=True,
                           env=cli_env(), cwd=tmp_path, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    res = json.loads(again.stdout)
    assert res["cached"] == stored and stored_scores(store) == stored + 2


_COUNTING_PLUGIN = textwrap.dedent('''
    import hashlib, os, time
    import nasx

    @nasx.register_proxy("t-counting", higher_is_better=True, needs=["none"], replace=True,
                         batch_split="invariant")
    def counting(model, batch, ctx):
        start = time.time()
        time.sleep(0.15)
        which = hashlib.sha256(repr(model).encode()).hexdigest()[:12]
        with open(os.environ["COUNT_LOG"], "a") as f:
            f.write(f"{os.getpid()} {which} {start} {time.time()}\\n")
        return float(sum(p.numel() for p in model.parameters()))
''')

_SCORER = textwrap.dedent('''
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import counting_plugin, nasx
    from nasx.api import make_space
    space = make_space("nasbench201", C=8, N=1, input_size=8)
    archs = [space.from_index(i * 611) for i in range(16)]
    if sys.argv[2] == "reverse":
        archs = archs[::-1]
    rs = nasx.score(archs, space=space, proxy="t-counting", data="synthetic", batch_size=16,
                    device="cpu", store=sys.argv[1])
    print(json.dumps({r.arch: r.value for r in rs}))
''')


@pytest.mark.slow
def test_concurrent_processes_share_one_store(tmp_path):
    (tmp_path / "counting_plugin.py").write_text(_COUNTING_PLUGIN)
    (tmp_path / "scorer.py").write_text(_SCORER)
    log = tmp_path / "count.log"
    store = tmp_path / "shared.sqlite"
    env = cli_env(COUNT_LOG=str(log))
    env["PYTHONPATH"] = str(tmp_path) + os.pathsep + env["PYTHONPATH"]
    procs = [subprocess.Popen([sys.executable, str(tmp_path / "scorer.py"), str(store), order],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                              cwd=tmp_path)
             for order in ("forward", "reverse", "forward")]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    values = [json.loads(o) for o, _ in outs]
    assert values[0] == values[1] == values[2] and len(values[0]) == 16
    rows = [ln.split() for ln in log.read_text().splitlines()]
    computed = len(rows)
    runs: dict[str, list[tuple[float, float]]] = {}
    for _pid, which, t0, t1 in rows:
        runs.setdefault(which, []).append((float(t0), float(t1)))
    assert len(runs) == 16
    # each process looks a score up just before computing it: a score is computed again only
    # by a process that started it while another was still computing it (nothing stored yet)
    for spans in runs.values():
        spans.sort()
        first_end = spans[0][1]
        for t0, _ in spans[1:]:
            assert t0 < first_end + 0.5, spans  # 0.5 s: the store write after the proxy
    with Store(store) as st:
        assert st.integrity() == "ok" and st.count() == 16
    # a fourth process finds everything stored and computes nothing
    again = subprocess.run([sys.executable, str(tmp_path / "scorer.py"), str(store), "forward"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert again.returncode == 0 and json.loads(again.stdout) == values[0]
    assert len(log.read_text().splitlines()) == computed
