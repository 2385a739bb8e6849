"""A proxy is declared in one place: its ``register_proxy`` (or ``register_ensemble``) call.

* the store keys of the built-in proxies equal those recorded in
  ``tests/data/builtin_proxy_keys.json`` (made by ``keys_snapshot.py`` before the declarations
  moved into the registration calls), and every built-in states its batch split there;
* the forms of ``register_proxy`` (decorator, direct, population) and their misuse errors;
* the built-in ensembles register through ``register_ensemble`` like users' ensembles, and one
  rank aggregation serves ``rank_sum``, ``log_rank_sum`` and ensembles (values as before);
* one device-kind function for the executors and the store key.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from keys_snapshot import GOLDEN, snapshot
from scipy.stats import rankdata

import nasx
from nasx import registry
from nasx.errors import ConfigError, RegistrationError
from nasx.executors import Executor, ProcessExecutor, ScoringJob, SequentialExecutor
from nasx.proxies import ensembles
from nasx.proxies.base import (
    DEFAULT_BATCH_SPLIT,
    ProxyDecorator,
    ProxySpec,
    get_proxy,
    register_proxy,
)
from nasx.proxies.ensemble import Ensemble, ensemble, register_ensemble
from nasx.proxies.ranks import aggregate_ranks, log_rank_sum, rank_sum
from nasx.scoring import device_kind, key_options

PROXIES_DIR = Path(nasx.__file__).resolve().parent / "proxies"


def _f(model, batch, ctx):
    return 1.0


@pytest.fixture
def cleanup():
    names: list[str] = []
    yield names
    for n in names:
        registry.proxies.remove(n)


# -- store keys of the built-ins ----------------------------------------------------------------
def test_builtin_store_keys_unchanged():
    golden = json.loads(GOLDEN.read_text())
    now = snapshot()
    missing = sorted(set(golden) - set(now))
    assert missing == [], f"built-in proxies no longer registered: {missing}"
    changed = {n: (golden[n], now[n]) for n in golden if now[n] != golden[n]}
    assert changed == {}, f"key declarations changed (recorded, now): {changed}"


def _registration_calls():
    for path in sorted(PROXIES_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("register_proxy", "register_ensemble"):
                yield path.name, node


def test_every_builtin_states_its_batch_split_at_registration():
    calls = list(_registration_calls())
    proxy_calls = [(f, c) for f, c in calls if c.func.id == "register_proxy"
                   and f not in ("base.py", "ensemble.py")]
    assert len(proxy_calls) >= 25
    silent = [f"{f}:{c.lineno}" for f, c in proxy_calls
              if "batch_split" not in {k.arg for k in c.keywords}]
    assert silent == []
    assert not hasattr(sys.modules["nasx.proxies.base"], "_BUILTIN_SPLIT")
    # the built-in ensembles take theirs from their members, as users' ensembles do
    assert {f for f, c in calls if c.func.id == "register_ensemble"} == {"ensembles.py"}


def test_batch_split_default_is_sensitive(cleanup):
    cleanup.append("t-reg-default")
    register_proxy("t-reg-default", _f, higher_is_better=True, needs=("none",))
    spec = get_proxy("t-reg-default")
    assert DEFAULT_BATCH_SPLIT == "sensitive"
    assert spec.batch_split == "sensitive" and spec.split_sensitive
    assert key_options(spec, chunk_size=4)["split"] == 4  # the chunk goes into the key
    assert "DEFAULT_BATCH_SPLIT" in register_proxy.__doc__


# -- the forms of register_proxy ----------------------------------------------------------------
def test_direct_form_registers_at_once(cleanup):
    cleanup.append("t-reg-direct")
    out = register_proxy("t-reg-direct", _f, higher_is_better=False, needs=("none",),
                         batch_split="invariant", version="3")
    assert out is _f
    spec = get_proxy("t-reg-direct")
    assert (spec.fn, spec.higher_is_better, spec.batch_split, spec.cache_id) == \
        (_f, False, "invariant", "t-reg-direct@3")


def test_decorator_form_registers_the_function(cleanup):
    cleanup.append("t-reg-deco")
    deco = register_proxy("t-reg-deco", higher_is_better=True, needs=("none",))
    assert isinstance(deco, ProxyDecorator)
    assert "t-reg-deco" not in registry.proxies
    assert deco(_f) is _f
    assert get_proxy("t-reg-deco").fn is _f


@pytest.mark.parametrize("args,kwargs", [(("not a function",), {}), ((), {}),
                                         ((_f, _f), {}), ((_f,), {"extra": 1})])
def test_decorator_applied_to_anything_but_one_function_is_an_error(args, kwargs):
    deco = register_proxy("t-reg-bad-use", higher_is_better=True, needs=("none",))
    with pytest.raises(RegistrationError, match="decorates one proxy function"):
        deco(*args, **kwargs)
    assert "t-reg-bad-use" not in registry.proxies


def test_decorator_applied_twice_is_an_error(cleanup):
    cleanup.append("t-reg-twice")
    deco = register_proxy("t-reg-twice", higher_is_better=True, needs=("none",))
    deco(_f)

    def other(model, batch, ctx):
        return 2.0

    with pytest.raises(RegistrationError, match="applied a second time"):
        deco(other)
    assert get_proxy("t-reg-twice").fn is _f


def test_decorator_never_applied_is_reported_by_the_next_lookup():
    register_proxy("t-reg-forgot", higher_is_better=True, needs=("none",))  # no function
    with pytest.raises(RegistrationError) as e:
        get_proxy("params")
    msg = str(e.value)
    assert "t-reg-forgot" in msg and "never applied" in msg
    assert f"{Path(__file__).name}:" in msg  # where the statement is
    assert "t-reg-forgot" not in registry.proxies  # nothing was registered; reported once
    assert get_proxy("params").name == "params"


def test_every_registry_read_reports_an_unapplied_decorator():
    for read in (lambda: registry.proxies.names(), lambda: registry.proxies.items(),
                 lambda: "params" in registry.proxies, lambda: nasx.list_proxies()):
        register_proxy("t-reg-forgot-2", higher_is_better=True, needs=("none",))
        with pytest.raises(RegistrationError, match="t-reg-forgot-2"):
            read()


def test_plugin_with_an_unapplied_decorator_fails_to_load_with_a_warning(monkeypatch):
    module = types.ModuleType("t_reg_plugin_mod")
    ep = md.EntryPoint(name="forgetful", value="t_reg_plugin_mod", group="nasx.proxies")

    def load(self):
        register_proxy("t-reg-plugin", higher_is_better=True, needs=("none",))
        return module

    monkeypatch.setattr(md.EntryPoint, "load", load)
    monkeypatch.setattr(md, "entry_points", lambda group=None: [ep] if group else [])
    reg = registry.Registry("proxy", "nasx.proxies")
    reg.add_check(sys.modules["nasx.proxies.base"]._check_unapplied)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        names = reg.names()
    assert any("forgetful" in str(x.message) and "never applied" in str(x.message) for x in w)
    assert isinstance(names, list)  # the registry still works


def test_population_form_registers_at_once_and_returns_the_spec(cleanup):
    cleanup.append("t-reg-pop")
    spec = register_proxy("t-reg-pop", components=("params", "flops"), combine=rank_sum,
                          higher_is_better=True, needs=("none",), batch_split="invariant")
    assert isinstance(spec, ProxySpec) and spec.population
    assert get_proxy("t-reg-pop") is spec


def test_population_form_misuse_is_an_error():
    with pytest.raises(RegistrationError, match="no per-model function"):
        register_proxy("t-reg-pop-fn", _f, components=("params",), combine=rank_sum,
                       higher_is_better=True)
    with pytest.raises(RegistrationError, match="needs a combine function"):
        register_proxy("t-reg-pop-nocombine", components=("params",), higher_is_better=True)
    with pytest.raises(RegistrationError, match="combine is for population proxies"):
        register_proxy("t-reg-combine-only", _f, combine=rank_sum, higher_is_better=True)
    for n in ("t-reg-pop-fn", "t-reg-pop-nocombine", "t-reg-combine-only"):
        assert n not in registry.proxies


# -- ensembles ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name,members,version,split", [
    ("nasx-ens", ensembles.NASX_ENS_MEMBERS, "1", None),
    ("nasx-top", ensembles.NASX_TOP_MEMBERS, "2", None),
    ("nasx-cross", ensembles.NASX_CROSS_MEMBERS, "2", "sensitive")])
def test_builtin_ensembles_are_what_register_ensemble_gives(name, members, version, split,
                                                            cleanup):
    cleanup.append("t-reg-ens")
    built_in = get_proxy(name)
    user = register_ensemble("t-reg-ens", members, aggregation="log-rank", version=version,
                             batch_split=split)
    assert built_in.version == version
    assert (built_in.components, built_in.needs, built_in.batch_split) == \
        (user.components, user.needs, user.batch_split)
    assert key_options(built_in, chunk_size=4) == key_options(user, chunk_size=4)
    assert isinstance(built_in.combine, Ensemble)
    assert (built_in.combine.members, built_in.combine.weights, built_in.combine.aggregation) \
        == (members, (1.0,) * len(members), "log-rank")


def test_ensemble_batch_split_defaults_to_the_members_and_may_only_be_stricter(cleanup):
    cleanup.extend(["t-reg-ens-inv", "t-reg-ens-sens"])
    assert register_ensemble("t-reg-ens-inv", ["params", "flops"]).batch_split == "invariant"
    spec = register_ensemble("t-reg-ens-sens", ["params"], batch_split="sensitive")
    assert spec.batch_split == "sensitive"
    assert key_options(spec, chunk_size=4)["split"] == 4
    with pytest.raises(ConfigError, match="every member to be invariant"):
        register_ensemble("t-reg-ens-bad", ["params", "snip"], batch_split="invariant")
    assert "t-reg-ens-bad" not in registry.proxies


def _old_oriented_ranks(values, up):
    v = np.asarray(values, dtype=np.float64)
    o = v if up else -v
    return rankdata(np.where(np.isfinite(o), o, -np.inf), method="average")


def _population(seed, n=40):
    rng = np.random.default_rng(seed)
    comps = {}
    for name in ("ntk", "params", "naswot"):  # ntk: lower is better
        v = rng.normal(size=n).round(1)  # rounding makes ties
        v[rng.random(n) < 0.1] = np.nan  # failures
        comps[name] = v
    return comps


@pytest.mark.parametrize("seed", range(5))
def test_one_rank_aggregation_gives_the_former_values(seed):
    comps = _population(seed)
    up = {n: get_proxy(n).higher_is_better for n in comps}
    assert up["ntk"] is False
    old_sum = sum(_old_oriented_ranks(v, up[n]) for n, v in comps.items())
    old_log = sum(np.log(_old_oriented_ranks(v, up[n]) / len(v)) for n, v in comps.items())
    assert np.array_equal(rank_sum(comps), old_sum)
    assert np.array_equal(log_rank_sum(comps), old_log)
    weights = (2.0, 0.5, 1.0)
    for agg in ("rank", "log-rank"):
        old = None
        for (n, v), w in zip(comps.items(), weights):
            r = _old_oriented_ranks(v, up[n])
            part = w * (np.log(r / len(r)) if agg == "log-rank" else r)
            old = part if old is None else old + part
        ens = Ensemble(list(comps), weights, agg)
        assert np.array_equal(ens(comps), old)
        assert np.array_equal(ensemble(dict(zip(comps, weights)), aggregation=agg).combine(comps),
                              old)
        assert np.array_equal(aggregate_ranks(comps, agg, weights=weights), old)


def test_rank_aggregation_rejects_unknown_aggregation():
    with pytest.raises(ValueError, match="unknown rank aggregation"):
        aggregate_ranks({"params": np.ones(3)}, "median")


# -- device kind ----------------------------------------------------------------------------------
@pytest.mark.parametrize("device,kind", [
    ("cpu", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda"), ("mps", "mps"),
    (torch.device("cpu"), "cpu"), (torch.device("cuda:1"), "cuda")])
def test_device_kind_drops_the_index(device, kind):
    assert device_kind(device) == kind


def test_executors_report_the_store_key_device_kind():
    pe = object.__new__(ProcessExecutor)  # no workers started: only its devices are read
    pe.devices = ["cuda:1", "cuda:1"]
    job = ScoringJob("nasbench201", {}, ["params"], None, device="cpu", seed=0)
    assert pe.device_kind(job) == "cuda" == device_kind(torch.device("cuda:1"))
    assert Executor.device_kind(SequentialExecutor(), job) == "cpu"


def test_store_key_device_is_the_executor_kind():
    from nasx.api import ScoreService, make_space
    from nasx.data import draw_batch, synthetic_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = draw_batch(synthetic_dataset(num_classes=2, n_per_class=4, size=8), 4, 0)
    space = make_space("nasbench201", C=8, N=1, input_size=8)
    arch = space.sample(np.random.default_rng(0))
    pe = object.__new__(ProcessExecutor)
    pe.devices = ["cuda:1"]
    svc = ScoreService(space, [get_proxy("params")], batch, device="cpu", executor=pe)
    assert svc.key(arch, get_proxy("params")).device == "cuda"
    svc = ScoreService(space, [get_proxy("params")], batch, device="cpu")
    assert svc.key(arch, get_proxy("params")).device == "cpu"
