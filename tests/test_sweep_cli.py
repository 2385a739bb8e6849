"""Hostile and careless command lines, configs and search loops: each case ends in a correct
result, a one-line error with exit status 2 (130 for an interrupt, 1 or 141 for output that
cannot be written), or a documented warning; never a traceback, a hang or a silently different
input.

Each row names the command line (``{tmp}`` is the test's folder, ``{cfg}`` a config written with
the row's text) and its verdict: the exit status and a fragment of stderr, or a check of the
result. The toy space and data-free proxies keep the fast rows well under a second; rows that
start processes (``python -m nasx``, process workers, Ray) are marked slow.
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import nasx.testing  # noqa: F401  (the toy space)
from nasx.cli.main import main
from nasx.proxies.base import register_proxy
from nasx.registry import proxies

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_subprocess import cli_env, stored_scores, wait_for_scores  # noqa: E402

TOY = ["--space", "toy", "--proxy", "params", "--no-store"]
NB201 = ["--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
         "--space-opt", "input_size=8", "--proxy", "params", "--no-store"]
LAUGHS = "".join(
    [f"l0: &l0 [{', '.join(['lol'] * 10)}]\n"]
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9)]
    + ["proxy: *l8\n"])

LAUGHS_MEMBERS = "members: [" + ", ".join(
    [f"&m0 [{', '.join(['params'] * 10)}]"]
    + [f"&m{i} [{', '.join([f'*m{i - 1}'] * 10)}]" for i in range(1, 9)]) + "]\n"


# -- user proxies of the rows (registered for this module only) ---------------------------------
def _slow(model, batch, ctx):
    time.sleep(0.15)
    return float(sum(p.numel() for p in model.parameters()))


def _exits(model, batch, ctx):
    sys.exit(0)


class _NoFloat:
    def __float__(self) -> float:
        raise RuntimeError("no float here")


def _no_float(model, batch, ctx):
    return _NoFloat()


_CALLS = [0]


def _interrupts(model, batch, ctx):
    _CALLS[0] += 1
    if _CALLS[0] == 3:
        raise KeyboardInterrupt
    return float(_CALLS[0])


USER_PROXIES = {"t-sweep-slow": _slow, "t-sweep-exit": _exits, "t-sweep-nofloat": _no_float,
                "t-sweep-ctrlc": _interrupts, "t-sweep[/x]": _slow}


@pytest.fixture(scope="module", autouse=True)
def user_proxies():
    for name, fn in USER_PROXIES.items():
        register_proxy(name, higher_is_better=True, needs=("none",), replace=True)(fn)
    yield
    for name in USER_PROXIES:
        proxies.remove(name)


# -- the table --------------------------------------------------------------------------------
@dataclass
class Row:
    """One case: ``argv`` (``{tmp}``/``{cfg}`` filled in), the exit status it must end with,
    fragments of stderr (``err``) and of stdout (``out``), and ``check(out, err, tmp)`` for a
    result that must be right."""

    id: str
    argv: list[str]
    code: int
    err: tuple[str, ...] = ()
    out: tuple[str, ...] = ()
    config: str | None = None
    check: Callable[[str, str, Path], None] | None = None
    setup: Callable[[Path], None] | None = None
    marks: tuple[Any, ...] = field(default_factory=tuple)


def _json(out: str) -> dict:
    return json.loads(out)


def _three_digits(out: str, err: str, tmp: Path) -> None:
    d = _json(out)
    assert d["seed"] == 3 and d["evaluated"] == 2 and len(d["best"].split("-")) == 3


def _alias_same_score(out: str, err: str, tmp: Path) -> None:
    rows = _json(out)
    assert [r["proxy"] for r in rows] == ["gradalign-i", "gradalign-i"]
    assert rows[0]["status"] == "ok" and rows[0]["score"] == rows[1]["score"]


def _within_time(out: str, err: str, tmp: Path) -> None:
    d = _json(out)
    # 0.15 s per evaluation, a 0.5 s budget: stops after the evaluation in flight, never after
    # the whole ask of 16 (2.4 s)
    assert d["stopped_by"] == "time" and 1 <= d["evaluated"] <= 5, d
    assert d["seconds"] < 0.5 + 0.15 + 0.6, d


def _failed(needle: str) -> Callable[[str, str, Path], None]:
    def check(out: str, err: str, tmp: Path) -> None:
        rows = _json(out)
        assert rows and all(r["status"] == "failed" and r["score"] is None for r in rows)
        assert needle in rows[0]["error"]
    return check


def _one_arch_per_line(out: str, err: str, tmp: Path) -> None:
    assert "t-sweep[/x]" in out and "0-0-0-0" in out and "1-2-0-1" in out


def _fifo(tmp: Path) -> None:
    os.mkfifo(tmp / "fifo")


def _fifo_yaml(tmp: Path) -> None:
    os.mkfifo(tmp / "fifo.yaml")


def _big(tmp: Path) -> None:
    (tmp / "big.yaml").write_text("# padding\n" * 120_000)


def _ensemble_file(tmp: Path) -> None:
    (tmp / "ens.yaml").write_text("name: 'ens[/x][bold]'\nmembers: [params, toy-oracle]\n")


def _truth(tmp: Path) -> None:
    from nasx.api import make_space
    from nasx.testing.toy import toy_fitness

    space = make_space("toy")
    (tmp / "t.csv").write_text("arch,accuracy\n" + "".join(
        f"{a.text},{toy_fitness(a.spec, 3)}\n" for a in space.enumerate()))


ROWS = [
    # --config values are checked against their flag
    Row("config-negative-budget", ["search", *TOY, "--config", "{cfg}"], 2,
        ("budget must be a whole number of evaluations >= 1",), config="budget: -3\n"),
    Row("config-float-budget", ["search", *TOY, "--config", "{cfg}"], 2,
        ("budget must be a whole number; got 2.5",), config="budget: 2.5\n"),
    Row("config-bool-budget", ["search", *TOY, "--config", "{cfg}"], 2,
        ("budget must be a whole number; got True",), config="budget: true\n"),
    Row("config-inf-budget", ["search", *TOY, "--config", "{cfg}"], 2,
        ("budget must be a whole number; got inf",), config="budget: .inf\n"),
    Row("config-float-seed", ["search", *TOY, "--config", "{cfg}"], 2,
        ("seed must be a whole number; got 1.7",), config="seed: 1.7\nbudget: 2\n"),
    Row("config-json-string", ["search", *TOY, "--config", "{cfg}"], 2,
        ("json must be true or false; got 'false'",), config="json: 'false'\nbudget: 2\n"),
    Row("config-quiet-int", ["search", *TOY, "--config", "{cfg}"], 2,
        ("quiet must be true or false; got 1",), config="quiet: 1\nbudget: 2\n"),
    Row("config-proxy-mapping", ["search", "--space", "toy", "--no-store", "--config", "{cfg}"],
        2, ("proxy must be a single value (text); got dict",),
        config="proxy: {params: 1}\nbudget: 2\n"),
    Row("config-proxy-nested-list", ["score", "--space", "toy", "--config", "{cfg}", "0-0-0-0"],
        2, ("proxy must be a proxy name or a list of proxy names",),
        config="proxy: [params, [flops]]\n"),
    Row("config-top-k-float", ["search", *TOY, "--config", "{cfg}"], 2,
        ("top_k must be a whole number; got 2.0",), config="top_k: 2.0\nbudget: 2\n"),
    Row("config-choice", ["search", *TOY, "--config", "{cfg}"], 2,
        ("grad-method must be one of auto, capture, vmap",), config="grad-method: bogus\n"),
    Row("config-space-opt-nested", ["search", *TOY, "--config", "{cfg}"], 2,
        ("space-opt must be a mapping of names to plain values",),
        config="space-opt: {length: [3]}\nbudget: 2\n"),
    Row("config-space-opt-one-string", ["search", "--space", "toy", "--proxy", "params",
                                        "--no-store", "--json", "-q", "--config", "{cfg}"], 0,
        config="space-opt: length=3\nbudget: 2\nseed: '3'\n", check=_three_digits),
    Row("config-billion-laughs", ["search", *TOY, "--config", "{cfg}"], 2,
        ("more than 32 YAML aliases",), config=LAUGHS),
    Row("config-fifo", ["search", *TOY, "--config", "{tmp}/fifo"], 2,
        ("not a regular file",), setup=_fifo),
    Row("config-dev-zero", ["search", *TOY, "--config", "/dev/zero"], 2,
        ("not a regular file",)),
    Row("config-too-large", ["search", *TOY, "--config", "{tmp}/big.yaml"], 2,
        ("more than the 1048576 allowed",), setup=_big),
    Row("score-file-fifo", ["score", *TOY, "--file", "{tmp}/fifo"], 2,
        ("--file", "not a regular file"), setup=_fifo),
    Row("score-file-dev-zero", ["score", *TOY, "--file", "/dev/zero"], 2,
        ("--file /dev/zero: not a regular file",)),
    # strategy options: impossible ones refused at construction
    Row("random-max-tries-0", ["search", *TOY, "--budget", "2", "--strategy-opt", "max_tries=0"],
        2, ("random: max_tries must be >= 1",)),
    Row("random-unknown-option", ["search", *TOY, "--budget", "2", "--strategy-opt", "bogus=1"],
        2, ("unknown option 'bogus'",)),
    Row("random-fractional-option", ["search", *TOY, "--budget", "2", "--strategy-opt",
                                     "batch=2.5"], 2, ("batch='2.5' is not a valid int",)),
    Row("pruning-prune-number-100", ["search", *NB201, "--strategy", "pruning",
                                     "--strategy-opt", "prune_number=100"], 2,
        ("prune_number=100 is more than the 3 op(s) an edge can lose",)),
    Row("pruning-exclude-bogus", ["search", *NB201, "--strategy", "pruning",
                                  "--strategy-opt", "exclude=bogus"], 2,
        ("exclude names no candidate op of space 'nasbench201': 'bogus'",)),
    Row("evolution-sample-over-population", ["search", *TOY, "--budget", "4", "--strategy",
                                             "evolution", "--strategy-opt", "population=2",
                                             "--strategy-opt", "sample=5", "-q"], 0,
        ("nasx: warning: evolution: the tournament sample (5) is larger than the population",)),
    # names
    Row("proxy-underscore-alias", ["score", "--space", "toy", "--no-store", "--data", "synthetic",
                                   "--batch-size", "20", "--proxy", "gradalign_i,gradalign-i",
                                   "--json", "0-1-2-0"], 0, check=_alias_same_score),
    Row("ensemble-two-suffixes", ["search", *TOY[:2], "--no-store", "--budget", "2", "--proxy",
                                  "params+flops[rank][rank]"], 2,
        ("one aggregation suffix at most",)),
    Row("ensemble-file-billion-laughs", ["score", "--space", "toy", "--proxy", "{cfg}",
                                         "0-0-0-0"], 2,
        ("uses more than 32 YAML aliases",), config=LAUGHS_MEMBERS),
    Row("ensemble-file-fifo", ["score", "--space", "toy", "--proxy", "{tmp}/fifo.yaml",
                               "0-0-0-0"], 2, ("is not a regular file",), setup=_fifo_yaml),
    Row("markup-in-ensemble-name", ["score", "--space", "toy", "--proxy", "{tmp}/ens.yaml",
                                    "0-0-0-0", "1-2-0-1"], 0,
        out=("ens[/x][bold]",), setup=_ensemble_file),
    Row("markup-in-proxy-name", ["score", "--space", "toy", "--proxy", "t-sweep[/x]", "0-0-0-0",
                                 "1-2-0-1"], 0, check=_one_arch_per_line),
    Row("markup-in-list", ["list", "proxies", "t-sweep*"], 0, out=("t-sweep[/x]",)),
    Row("markup-in-eval-table", ["eval", "--space", "toy", "--proxy", "t-sweep[/x]",
                                 "--no-store", "--truth", "{tmp}/t.csv", "--sample", "3", "-q"],
        0, out=("t-sweep[/x]",), setup=_truth),
    # budgets
    Row("time-budget-nan", ["search", *TOY, "--time-budget", "nan"], 2,
        ("time budget must be a positive, finite number of seconds; got nan",)),
    Row("time-budget-inf", ["search", *TOY, "--time-budget", "inf"], 2,
        ("time budget must be a positive, finite number of seconds; got inf",)),
    Row("time-budget-negative", ["search", *TOY, "--time-budget", "-1"], 2,
        ("time budget must be a positive, finite number",)),
    Row("time-budget-zero", ["search", *TOY, "--time-budget", "0"], 2,
        ("time budget must be a positive, finite number",)),
    Row("time-budget-slow-proxy", ["search", "--space", "toy", "--proxy", "t-sweep-slow",
                                   "--no-store", "--time-budget", "0.5", "--json", "-q"], 0,
        check=_within_time),
    Row("workers-100000", ["search", *TOY, "--budget", "2", "--executor", "process",
                           "--workers", "100000"], 2,
        ("100000 worker processes asked for; at most",)),
    Row("workers-per-device-100000", ["search", *TOY, "--budget", "2", "--executor", "process",
                                      "--workers", "1", "--workers-per-device", "100000"], 2,
        ("100000 worker processes asked for; at most",)),
    # outputs
    Row("eval-csv-trailing-slash", ["eval", *TOY, "--truth", "{tmp}/t.csv", "--csv",
                                    "{tmp}/nodir/"], 2, ("--csv", "names a folder"),
        setup=_truth),
    # plugins
    Row("plugin-system-exit", ["score", "--space", "toy", "--proxy", "t-sweep-exit", "--json",
                               "0-0-0-0"], 0, check=_failed("SystemExit")),
    Row("plugin-float-raises", ["score", "--space", "toy", "--proxy", "t-sweep-nofloat",
                                "--json", "0-0-0-0"], 0,
        check=_failed("not a number (RuntimeError: no float here)")),
]


def _run_row(row: Row, tmp: Path, capsys) -> tuple[int, str, str]:
    if row.setup is not None:
        row.setup(tmp)
    cfg = tmp / "c.yaml"
    if row.config is not None:
        cfg.write_text(row.config)
    argv = [a.replace("{tmp}", str(tmp)).replace("{cfg}", str(cfg)) for a in row.argv]
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("row", [pytest.param(r, id=r.id, marks=r.marks) for r in ROWS])
def test_sweep_row(row: Row, tmp_path: Path, capsys) -> None:
    t0 = time.perf_counter()
    code, out, err = _run_row(row, tmp_path, capsys)
    assert code == row.code, err
    assert "Traceback" not in err
    if row.code == 2:
        errors = [ln for ln in err.splitlines() if ln.startswith("nasx: error:")]
        assert len(errors) == 1 and out == "", err
    for needle in row.err:
        assert needle in err, err
    for needle in row.out:
        assert needle in out, out
    if row.check is not None:
        row.check(out, err, tmp_path)
    assert time.perf_counter() - t0 < 30  # a clean error is fast, never a hang


# -- interrupts ---------------------------------------------------------------------------------
def test_interrupt_counts_the_scores_of_the_cut_ask(tmp_path: Path, capsys) -> None:
    """Ctrl-C in the middle of an ask of 16: the two scores computed before it are stored, told
    as evaluations of the partial result, and counted in the message (not "0 evaluations ...
    no architecture scored yet")."""
    _CALLS[0] = 0
    store = tmp_path / "s.sqlite"
    code = main(["search", "--space", "toy", "--proxy", "t-sweep-ctrlc", "--budget", "10",
                 "--store", str(store), "-q"])
    out, err = capsys.readouterr()
    assert code == 130 and "Traceback" not in err
    assert "interrupted after 2 evaluations;" in err
    assert "no architecture scored yet" not in err
    assert stored_scores(store) == 2


# -- output that cannot be written (in process) -------------------------------------------------
class _Broken(io.StringIO):
    def __init__(self, err: int) -> None:
        super().__init__()
        self.err = err

    def flush(self) -> None:
        raise BrokenPipeError(errno.EPIPE, "Broken pipe") if self.err == errno.EPIPE \
            else OSError(self.err, os.strerror(self.err))


@pytest.mark.parametrize("stdout,code,needle", [
    (None, 1, "standard output is closed"),
    (_Broken(errno.ENOSPC), 1, "cannot write the results: No space left on device"),
    (_Broken(errno.EPIPE), 141, None),
], ids=["stdout-closed", "stdout-disk-full", "stdout-broken-pipe"])
def test_unwritable_stdout_is_never_exit_0(monkeypatch, capsys, stdout, code, needle):
    monkeypatch.setattr(sys, "stdout", stdout)
    got = main(["search", *TOY, "--budget", "2", "--json", "-q"])
    err = capsys.readouterr().err
    assert got == code and "Traceback" not in err
    if needle is None:
        assert err == ""  # a closed pipe ends quietly, as other command-line tools do
    else:
        assert err.count("nasx: error:") == 1 and needle in err


# -- in subprocesses (slow: each starts python, torch, workers or Ray) --------------------------
_PLUGIN = textwrap.dedent('''
    import os, time
    import nasx.testing  # noqa: F401  (the toy space)
    from nasx.proxies.base import register_proxy

    @register_proxy("t-plug", higher_is_better=True, needs=("none",), replace=True)
    def plug(model, batch, ctx):
        time.sleep(float(os.environ.get("PLUG_SLEEP", "0")))
        if os.environ.get("PLUG_DIE"):
            os._exit(3)
        return float(sum(p.numel() for p in model.parameters()))
''')
_MAIN = "import sys{imp}; from nasx.cli.main import main; sys.exit(main(sys.argv[1:]))"


def _cli(tmp: Path, *argv: str, plugin: bool = True, code: str | None = None,
         **env: str) -> list[str]:
    (tmp / "sweep_plug.py").write_text(_PLUGIN)
    src = code or _MAIN.format(imp=", sweep_plug" if plugin else ", nasx.testing")
    return [sys.executable, "-c", src, *argv]


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = cli_env(**extra)
    env["PYTHONPATH"] = str(tmp) + os.pathsep + env["PYTHONPATH"]
    return env


@pytest.mark.slow
@pytest.mark.parametrize("shell,code,needle", [
    ("{cmd} >&-", 1, "standard output is closed"),
    ("{cmd} > /dev/full", 1, "cannot write the results: No space left on device"),
    ("{cmd} | (exec 0<&-; sleep 20)", 141, None),
], ids=["closed", "disk-full", "closed-pipe"])
def test_unwritable_stdout_in_a_shell(tmp_path, shell, code, needle):
    cmd = " ".join(f"'{a}'" for a in _cli(tmp_path, "search", *TOY, "--budget", "2", "--json",
                                          "-q", plugin=False))
    script = shell.format(cmd=cmd) + "; echo \"rc=${PIPESTATUS[0]}\" >&2"
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                       env=_env(tmp_path), timeout=120)
    assert f"rc={code}" in p.stderr and "Traceback" not in p.stderr, p.stderr
    if needle:
        assert needle in p.stderr


@pytest.mark.slow
def test_sigint_to_the_process_group_with_process_workers(tmp_path):
    store = tmp_path / "s.sqlite"
    cmd = _cli(tmp_path, "search", "--space", "toy", "--proxy", "t-plug", "--budget", "40",
               "--store", str(store), "--executor", "process", "--workers", "2", "--json", "-q")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(tmp_path, PLUG_SLEEP="0.3"), start_new_session=True)
    try:
        wait_for_scores(store, 2, proc, timeout=240)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "interrupted after" in err
    partial = json.loads(out)
    assert partial["stopped_by"] == "interrupted" and partial["evaluated"] <= stored_scores(store)


@pytest.mark.slow
def test_process_workers_import_user_proxies_and_explain_main(tmp_path):
    # a proxy of an importable module works with process workers, with the sequential scores
    seq = subprocess.run(_cli(tmp_path, "score", "--space", "toy", "--proxy", "t-plug", "--json",
                              "0-1-2-0", "2-2-1-0"), capture_output=True, text=True,
                         env=_env(tmp_path), timeout=300)
    par = subprocess.run(_cli(tmp_path, "score", "--space", "toy", "--proxy", "t-plug", "--json",
                              "--executor", "process", "--workers", "2", "--archs-per-task",
                              str(10**12), "0-1-2-0", "2-2-1-0"),
                         capture_output=True, text=True, env=_env(tmp_path), timeout=300)
    assert seq.returncode == 0 and par.returncode == 0, par.stderr
    assert json.loads(seq.stdout) == [{**r, "seconds": s["seconds"]} for r, s in
                                      zip(json.loads(par.stdout), json.loads(seq.stdout))]
    # a proxy defined in __main__ (python -c, a notebook): a one-line error that says why
    code = ("import sys, nasx.testing\nfrom nasx.proxies.base import register_proxy\n"
            "register_proxy('t-main', higher_is_better=True, needs=('none',))"
            "(lambda m, b, c: 1.0)\nfrom nasx.cli.main import main\n"
            "sys.exit(main(sys.argv[1:]))")
    p = subprocess.run(_cli(tmp_path, "score", "--space", "toy", "--proxy", "t-main",
                            "--executor", "process", "--workers", "1", "0-1-2-0", code=code),
                       capture_output=True, text=True, env=_env(tmp_path), timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert "must be registered by an importable module" in p.stderr


@pytest.mark.slow
def test_ray_unreachable_address_is_a_quick_error(tmp_path):
    pytest.importorskip("ray")
    t0 = time.monotonic()
    p = subprocess.run(_cli(tmp_path, "search", *TOY, "--budget", "2", "--executor", "ray",
                            "--ray-address", "127.0.0.1:1"),
                       capture_output=True, text=True, env=_env(tmp_path), timeout=300)
    assert p.returncode == 2 and "cannot reach Ray at 127.0.0.1:1" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and time.monotonic() - t0 < 120


@pytest.mark.slow
def test_ray_messages_stay_off_stdout_and_local_ray_binds_to_loopback(tmp_path):
    pytest.importorskip("ray")
    p = subprocess.run(_cli(tmp_path, "score", "--space", "toy", "--proxy", "t-plug", "--json",
                            "--no-store", "--executor", "ray", "--workers", "1", "0-1-2-0"),
                       capture_output=True, text=True, env=_env(tmp_path, PLUG_DIE="1"),
                       timeout=580)
    assert p.returncode == 2 and "Ray task" in p.stderr, p.stderr
    assert "worker died" in p.stderr.lower() and p.stdout == "", p.stdout
    probe = ("import sys, ray\nfrom nasx.executors import RayExecutor\n"
             "ex = RayExecutor(workers=1)\n"
             "print(sorted({n['NodeManagerAddress'] for n in ray.nodes()}))\nex.close()\n")
    q = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                       env=_env(tmp_path), timeout=300)
    assert q.returncode == 0 and q.stdout.strip() == "['127.0.0.1']", q.stderr
