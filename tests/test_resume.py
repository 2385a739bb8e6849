"""The search loop: evaluation and time budgets, resource constraints, and resuming a killed run.

Resume is deterministic replay: a restarted run replays its strategy from the seed and the store
answers every score it already holds. The fast tests interrupt a run in-process; the ``slow``
tests SIGKILL a real ``python -m nasx search`` process and run the same command again.
"""

from __future__ import annotations

import json
import math
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nasx.testing  # noqa: F401  (registers the toy space and the toy-oracle proxy)
from nasx.api import search
from nasx.constraints import ConstraintChecker, Constraints, count_flops, parse_quantity
from nasx.errors import BudgetError, ConfigError
from nasx.events import Evaluated
from nasx.testing.toy import ToySpace, toy_fitness

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:synthetic probe data")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_subprocess import cli_env, stored_scores, wait_for_scores  # noqa: E402

TOY = {"length": 4, "choices": 3}
COMMON = {"data": "synthetic", "batch_size": 20}


def _toy_params(digits, num_classes=10):
    """Parameters of ToySpace.build: convs without bias, BN (2 per channel), linear."""
    total, c_in = 0, 3
    for d in digits:
        c = 4 * (d + 1)
        total += c_in * c * 9 + 2 * c
        c_in = c
    return total + c_in * num_classes + num_classes


# -- budgets ----------------------------------------------------------------------------------
def test_evaluation_budget():
    r = search("toy", "toy-oracle", "random", budget=7, space_opts=TOY, store=False, **COMMON)
    assert (r.evaluated, r.stopped_by) == (7, "budget")


def test_time_budget():
    t0 = time.perf_counter()
    r = search("toy", "toy-oracle", "random", time_budget=0.5, store=False,
               space_opts={"length": 8, "choices": 4}, **COMMON)
    assert r.stopped_by == "time"
    assert 0 < r.evaluated < 4**8
    assert r.seconds >= 0.5 and time.perf_counter() - t0 < 30


def test_both_budgets_whichever_comes_first():
    r = search("toy", "toy-oracle", "random", budget=5, time_budget=600, space_opts=TOY,
               store=False, **COMMON)
    assert (r.evaluated, r.stopped_by) == (5, "budget")
    r = search("toy", "toy-oracle", "random", budget=10**6, time_budget=0.3, store=False,
               space_opts={"length": 8, "choices": 4}, **COMMON)
    assert r.stopped_by == "time" and r.evaluated < 10**6


def test_exhausting_a_finite_space_and_no_budget():
    r = search("toy", "toy-oracle", "random", budget=500, space_opts=TOY, store=False,
               **COMMON)
    assert (r.evaluated, r.stopped_by) == (81, "exhausted")
    assert r.score == max(toy_fitness(a.spec, 3) for a in ToySpace(**TOY).enumerate())
    with pytest.raises(BudgetError):
        search("toy", "toy-oracle", "random", space_opts=TOY, store=False, **COMMON)


# -- constraints ------------------------------------------------------------------------------
def test_parse_quantity():
    assert parse_quantity("1.5M") == 1.5e6
    assert parse_quantity("300m") == 3e8
    assert parse_quantity("800k") == 8e5
    assert parse_quantity("2G") == 2e9
    assert parse_quantity("1e6") == 1e6
    assert parse_quantity(12) == 12.0
    for bad in ("abc", "-3M", "0", "1.5X", True):
        with pytest.raises(ConfigError):
            parse_quantity(bad)


def test_flops_and_params_of_a_known_network():
    space = ToySpace(**TOY)
    arch = space.parse("0-2-1-2")
    model = space.build(arch, 10)
    # multiply-adds of the convolutions and the classifier, counted by hand
    macs, c_in = 0, 3
    for d in arch.spec:
        c = 4 * (d + 1)
        macs += 8 * 8 * c_in * c * 9
        c_in = c
    macs += c_in * 10
    from nasx.proxies.cost import count_flops as cost_flops

    assert cost_flops(model, (3, 8, 8), "macs") == macs
    # the constraint counts exactly what the flops proxy reports (in millions there)
    assert count_flops(model, (3, 8, 8)) == cost_flops(model, (3, 8, 8), "naslib") > macs
    checker = ConstraintChecker(space, Constraints.of(max_params=1), 10)
    assert checker.measure(arch)["params"] == _toy_params(arch.spec)


class CountingToy(ToySpace):
    """The toy space, counting the networks it builds."""

    builds = 0

    def build(self, arch, num_classes):
        CountingToy.builds += 1
        return super().build(arch, num_classes)


@pytest.mark.parametrize("strategy", ["random", "evolution"])
def test_constraints_skip_scoring_and_are_cached(tmp_path, strategy):
    space = CountingToy(**TOY)
    limit = 2500
    feasible = [a for a in space.enumerate() if _toy_params(a.spec) <= limit]
    assert 0 < len(feasible) < 81
    store = tmp_path / "s.sqlite"
    kw = dict(space=space, proxy="toy-oracle", strategy=strategy, budget=40, store=store,
              max_params=f"{limit / 1000}k", seed=3, **COMMON)
    seen = []
    r = search(**kw, on_event=lambda e: seen.append(e) if isinstance(e, Evaluated) else None)
    assert r.infeasible > 0
    assert r.evaluated == min(40, len(feasible)) if strategy == "random" else r.evaluated == 40
    assert r.settings["constraints"] == {"max_params": 2500.0}
    # every reported architecture is feasible and the infeasible ones were never scored
    assert all(_toy_params(space.parse(a).spec) <= limit for a, _ in r.top)
    with sqlite3.connect(store) as db:
        scored = {a for (a,) in db.execute("SELECT arch FROM scores WHERE proxy LIKE "
                                           "'toy-oracle@%'")}
        measured = db.execute("SELECT COUNT(*) FROM scores WHERE proxy LIKE "
                              "'constraint:params@%'").fetchone()[0]
    assert scored and all(_toy_params(space.parse(a).spec) <= limit for a in scored)
    infeasible_events = [e for e in seen if e.status == "infeasible"]
    assert len(infeasible_events) == r.infeasible
    assert "params" in infeasible_events[0].detail and "> max" in infeasible_events[0].detail
    assert measured == len({e.arch for e in seen})
    # a second identical run builds nothing: scores and measurements come from the store
    CountingToy.builds = 0
    again = search(**kw)
    assert CountingToy.builds == 0
    assert again.to_dict()["top"] == r.to_dict()["top"]
    assert again.infeasible == r.infeasible


def test_random_with_constraints_finds_the_constrained_optimum():
    space = ToySpace(**TOY)
    limit = 2500
    best = max((a for a in space.enumerate() if _toy_params(a.spec) <= limit),
               key=lambda a: toy_fitness(a.spec, 3))
    r = search(space, "toy-oracle", "random", budget=500, max_params=limit, store=False,
               **COMMON)
    assert r.best == best and r.stopped_by == "exhausted"
    assert r.evaluated + r.infeasible == 81


def test_flops_constraint_and_cli_flags(capsys):
    from nasx.cli.main import main

    rc = main(["search", "--space", "toy", "--proxy", "toy-oracle", "--data", "synthetic",
               "--batch-size", "20", "--no-store", "--budget", "30", "--max-flops", "0.5M",
               "--max-params", "3k", "--json", "--quiet"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["infeasible"] > 0
    assert out["settings"]["constraints"] == {"max_params": 3000.0, "max_flops": 500000.0}
    space = ToySpace()
    for row in out["top"]:
        a = space.parse(row["arch"])
        assert count_flops(space.build(a, 10), (3, 8, 8)) <= 5e5
    assert main(["search", "--space", "toy", "--proxy", "toy-oracle", "--data", "synthetic",
                 "--no-store", "--max-params", "lots", "--quiet"]) == 2


def test_constraints_are_refused_for_supernet_strategies():
    with pytest.raises(ConfigError, match="supernets"):
        search("nasbench201", "toy-oracle", "pruning", max_params="1M", store=False,
               space_opts={"C": 8, "N": 1, "input_size": 8}, **COMMON)


# -- resume, in process -----------------------------------------------------------------------
class Killed(Exception):
    pass


def _kill_after(k):
    def on_event(e):
        if isinstance(e, Evaluated) and e.status != "infeasible" and e.n_evaluated >= k:
            raise Killed
    return on_event


def _n_scores(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]


SAME = ("best", "score", "top", "evaluated", "failed", "run_id", "stopped_by", "settings")


@pytest.mark.parametrize("strategy,space,proxy,opts,budget", [
    ("random", "toy", "toy-oracle", {"length": 6, "choices": 3}, 40),
    ("evolution", "toy", "toy-oracle", {"length": 6, "choices": 3}, 60),
])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, strategy, space, proxy, opts,
                                                    budget):
    kw = dict(space=space, proxy=proxy, strategy=strategy, budget=budget, space_opts=opts,
              seed=5, **COMMON)
    full = search(**kw, store=tmp_path / "full.sqlite").to_dict()
    part = tmp_path / "part.sqlite"
    with pytest.raises(Killed):
        search(**kw, store=part, on_event=_kill_after(budget // 3))
    stored = _n_scores(part)
    assert stored >= budget // 3 - full["cached"]
    resumed = search(**kw, store=part).to_dict()
    assert {k: resumed[k] for k in SAME} == {k: full[k] for k in SAME}
    assert resumed["resumed"] == budget // 3
    # no score computed twice: the resumed part computed exactly what was missing
    computed = resumed["evaluated"] - resumed["cached"]
    assert computed == _n_scores(part) - stored
    assert _n_scores(part) == _n_scores(tmp_path / "full.sqlite")
    assert resumed["cached"] == full["cached"] + stored


def test_interrupted_pruning_resumes_to_the_same_result(tmp_path):
    from nasx.proxies.base import register_proxy

    @register_proxy("resume-test-outnorm", higher_is_better=True, needs=("data",),
                    replace=True)
    def outnorm(model, batch, ctx):
        with torch.no_grad():
            return float(model(batch.x).norm())

    kw = dict(space="nasbench201", proxy="resume-test-outnorm", strategy="pruning",
              space_opts={"C": 8, "N": 1, "input_size": 8}, **COMMON)
    full = search(**kw, store=tmp_path / "full.sqlite").to_dict()
    part = tmp_path / "part.sqlite"
    with pytest.raises(Killed):
        search(**kw, store=part, on_event=_kill_after(30))
    resumed = search(**kw, store=part).to_dict()
    assert {k: resumed[k] for k in SAME} == {k: full[k] for k in SAME}
    # pruning asks each round whole (24, then 18 supernets): both rounds were scored and stored
    # before the 30th evaluation was reported
    assert resumed["cached"] == 24 + 18 and resumed["evaluated"] == 55


# -- resume after SIGKILL of a real process (slow: three process starts per case) --------------
def _cli(store: Path, strategy: str, budget: int | None, proxy: str = "gradalign-i"):
    cmd = [sys.executable, "-m", "nasx", "search", "--space", "nasbench201",
           "--space-opt", "C=8", "--space-opt", "N=1", "--space-opt", "input_size=8",
           "--data", "synthetic", "--batch-size", "20", "--proxy", proxy,
           "--strategy", strategy, "--seed", "2", "--store", str(store), "--json", "--quiet"]
    if budget is not None:
        cmd += ["--budget", str(budget)]
    return cmd


@pytest.mark.slow
@pytest.mark.parametrize("strategy,budget,kill_at", [
    ("random", 24, 8),
    ("evolution", 30, 14),
    ("pruning", None, 25),
])
def test_sigkilled_search_resumes(tmp_path, strategy, budget, kill_at):
    full_store = tmp_path / "full.sqlite"
    done = subprocess.run(_cli(full_store, strategy, budget), capture_output=True, text=True,
                          env=cli_env(), cwd=tmp_path, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    full = json.loads(done.stdout)

    store = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(_cli(store, strategy, budget), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=cli_env(), cwd=tmp_path)
    try:
        wait_for_scores(store, kill_at, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stored = stored_scores(store)
    assert stored < full["evaluated"]

    again = subprocess.run(_cli(store, strategy, budget), capture_output=True, text=True,
                           env=cli_env(), cwd=tmp_path, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    resumed = json.loads(again.stdout)
    assert {k: resumed[k] for k in ("best", "score", "top", "evaluated")} == \
        {k: full[k] for k in ("best", "score", "top", "evaluated")}
    # scores computed after the restart = evaluations minus those answered by the store
    computed = resumed["evaluated"] - resumed["cached"]
    assert computed == stored_scores(store) - stored
    assert resumed["cached"] == full["cached"] + stored
    assert stored_scores(store) == stored_scores(full_store)
    assert not math.isnan(resumed["score"])


def test_cli_reports_strategy_progress(capsys):
    from nasx.cli.main import main

    rc = main(["search", "--space", "toy", "--proxy", "toy-oracle", "--strategy", "evolution",
               "--strategy-opt", "population=5", "--data", "synthetic", "--batch-size", "20",
               "--no-store", "--budget", "20"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "evolution: 15 children, population 5" in err
    ToySpace().parse(out.strip())  # the best architecture, in the space's notation
