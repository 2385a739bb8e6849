"""The search package: the public facade keeps the real signatures, the loop tells strategies
frozen evaluation records, the run context closes what it opened, and the built-in plugin table
is the one ``pyproject.toml`` declares."""

from __future__ import annotations

import dataclasses
import inspect
import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import nasx
import nasx.testing  # noqa: F401  (toy space and oracle proxy)
from nasx import api
from nasx._compat import MOVED
from nasx.context import RunContext
from nasx.engine.loop import SearchLoop, default_budget
from nasx.engine.session import Session
from nasx.errors import ConfigError, NasxError
from nasx.records import Evaluation
from nasx.registry import builtin_modules, make_space
from nasx.settings import RunSettings
from nasx.store import Store
from nasx.strategies.random import RandomSearch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("facade, method", [(api.search, Session.search),
                                            (api.score, Session.score),
                                            (api.evaluate, Session.evaluate)])
def test_facade_is_the_session_method_plus_the_run_settings(facade, method):
    """A public function's parameters are its session method's own and the fields of the run
    settings record, nothing else; their defaults are the record's (score keeps no store by
    default, as before)."""
    params = inspect.signature(facade).parameters
    own = list(inspect.signature(method).parameters.values())[1:]  # the session first
    for p in own:
        assert params[p.name].default == p.default, p.name
    fields = {f.name: f for f in dataclasses.fields(RunSettings)}
    assert set(params) == {p.name for p in own} | set(fields)
    for name, f in fields.items():
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if (facade, name) == (api.score, "store"):
            assert params[name].default is False
        elif name == "executor_opts":
            assert params[name].default is None and default == {}
        else:
            assert params[name].default == default, name
    assert facade.__doc__ and "Example" in facade.__doc__


def test_package_functions_are_the_facade_even_after_the_old_search_paths_load():
    code = ("import warnings; warnings.simplefilter('ignore'); "
            "import nasx, inspect; from nasx.registry import strategies; "
            "strategies.get('pruning'); from nasx.search import loop; "
            "print(nasx.score is nasx.api.score, nasx.evaluate is nasx.api.evaluate, "
            "callable(nasx.search), loop is nasx.engine.loop)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True"] * 4


def test_default_budget_decided_once():
    assert default_budget("random") == 100
    assert default_budget("pruning") is None


class Recording(RandomSearch):
    name = "recording"

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.told = []

    def tell(self, arch, fitness, info=None):
        self.told.append((arch, fitness, info))


def test_strategy_is_told_frozen_evaluation_records():
    space = make_space("toy")
    strat = Recording(space, seed=0, batch=2)
    r = nasx.search(space, "toy-oracle", strat, budget=5, data="shape", store=False,
                    device="cpu", max_params=None)
    assert len(strat.told) == 5 == r.evaluated
    for arch, fitness, info in strat.told:
        assert isinstance(info, Evaluation) and info.arch == arch
        assert info.fitness == fitness and info.proxy.name == "toy-oracle"
        assert set(info.results) == {"toy-oracle"} and info.infeasible is None
        assert info.raw == info.results["toy-oracle"].value
        with pytest.raises(dataclasses.FrozenInstanceError):
            info.fitness = 0.0  # type: ignore[misc]
        with pytest.raises(TypeError):
            info.results["x"] = None  # type: ignore[index]


def test_loop_steps_run_in_order():
    from nasx.context import make_batch, parse_proxies
    from nasx.service import ScoreService

    space = make_space("toy")
    fit = parse_proxies("toy-oracle")[0]
    batch = make_batch("shape", space, proxies=[fit])
    service = ScoreService(space, [fit], batch, device="cpu")
    events = []
    loop = SearchLoop(RandomSearch(space, seed=0, batch=3), fit, service, budget=4,
                      on_event=events.append)
    assert loop.run() == "budget"
    assert [e.step for e in events] == [0, 1, 2, 3] and len(loop.archs) == 4
    best, raw, top = loop.best(supernets=False)
    assert raw == max(v for _, v in top) and best.text == top[0][0]
    assert not math.isnan(raw)


class _Closing:
    def __init__(self):
        self.closed = 0

    def close(self):
        self.closed += 1


def test_run_context_closes_only_what_it_opened(tmp_path):
    path = tmp_path / "s.sqlite"
    with RunContext(str(path), "sequential", device="cpu") as run:
        store = run.store
        assert isinstance(store, Store)
    with pytest.raises((sqlite3.ProgrammingError, NasxError)):
        store.count()  # closed: the context opened it
    mine = Store(tmp_path / "mine.sqlite")
    with RunContext(mine, None, device="cpu") as run:
        assert run.store is mine
    assert mine.count() == 0  # still open: the caller's
    mine.close()
    with pytest.raises(ConfigError):
        RunContext(str(tmp_path / "x.sqlite"), "no-such-executor", device="cpu")


def test_builtin_table_is_what_pyproject_declares():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    eps = meta["project"]["entry-points"]
    for group in ("nasx.proxies", "nasx.spaces", "nasx.strategies"):
        assert sorted(eps[group].values()) == builtin_modules(group), group


@pytest.mark.parametrize("old, new", sorted(MOVED.items()))
def test_old_search_import_paths_warn_and_are_the_new_modules(old, new):
    code = ("import warnings, importlib, sys; warnings.simplefilter('error'); import nasx; "
            f"new = importlib.import_module({new!r}); "
            "warnings.simplefilter('always'); "
            f"import {old} as m; print(m is new, new.__spec__.name == {new!r}, "
            "callable(nasx.search))")
    out = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["True"] * 3
    assert "DeprecationWarning" in out.stderr and new in out.stderr


def test_no_name_is_both_a_function_and_a_package():
    # a fresh `import nasx`: nasx.search is the function, and no module file is named like
    # a public function of nasx
    import nasx

    pkg = Path(nasx.__file__).parent
    for name in nasx.__all__:
        if callable(getattr(nasx, name)) and not isinstance(getattr(nasx, name), type):
            assert not (pkg / name).is_dir() and not (pkg / f"{name}.py").exists(), name
    assert inspect.isfunction(nasx.search)


def test_told_fitness_reads_a_record_and_a_plain_mapping_alike():
    from nasx.proxies.base import get_proxy
    from nasx.records import ScoreResult
    from nasx.strategies.base import told_fitness

    spec = get_proxy("te-nas")
    arch = make_space("toy").sample(__import__("numpy").random.default_rng(0))
    res = {"ntk": ScoreResult(arch.text, "ntk", 2.0),
           "linear-regions": ScoreResult(arch.text, "linear-regions", None, "failed")}
    want = (1.5, spec, {"ntk": 2.0, "linear-regions": None})
    assert told_fitness(1.5, Evaluation(arch, 1.5, 2.0, spec, res)) == want
    assert told_fitness(1.5, {"proxy": spec, "results": res}) == want
    assert told_fitness(float("nan"), None) == (-math.inf, None, None)
    # an infeasible architecture has no component scores to re-rank
    assert told_fitness(-math.inf, Evaluation(arch, -math.inf, proxy=spec,
                                              infeasible="params")) == (-math.inf, None, None)
