"""Injected faults: signals lose at most the evaluation in flight, and concurrent processes
share one store without losing or duplicating a score (slow)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nasx.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_subprocess import (  # noqa: E402
    TINY,
    cli_env,
    stored_scores,
    wait_for_scores,
)

# -- signals and concurrent processes ----------------------------------------------------------


def _search_cmd(store: Path, budget: int) -> list[str]:
    return [sys.executable, "-m", "nasx", "search", *TINY, "--proxy", "gradalign-i",
            "--budget", str(budget), "--seed", "4", "--store", str(store), "--json", "--quiet"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_signals_lose_at_most_the_evaluation_in_flight(tmp_path, sig):
    store = tmp_path / "s.sqlite"
    proc = subprocess.Popen(_search_cmd(store, 200), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=tmp_path)
    try:
        wait_for_scores(store, 3, proc, timeout=240)
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
    # each process claims a score in the store before computing it and waits for another's
    # claim: every score is computed once
    assert computed == 16, runs
    with Store(store) as st:
        assert st.integrity() == "ok" and st.count() == 16
    # a fourth process finds everything stored and computes nothing
    again = subprocess.run([sys.executable, str(tmp_path / "scorer.py"), str(store), "forward"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert again.returncode == 0 and json.loads(again.stdout) == values[0]
    assert len(log.read_text().splitlines()) == computed
