"""Define-by-run spaces: a space from one function ``fn(trial) -> nn.Module``."""

from __future__ import annotations

import json
import pickle
import textwrap

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import nasx
from nasx.arch import Arch
from nasx.errors import ConfigError, InvalidArchError, SpaceError
from nasx.registry import make_space
from nasx.registry import spaces as registry
from nasx.spaces.define_by_run import (
    DefineByRunSpace,
    canonical_json,
    define_space,
    from_function,
)
from nasx.testing import check_space


def tiny(trial) -> nn.Module:
    """A tiny conditional space: width, depth, then one kernel per layer that exists."""
    w = trial.choice("width", [4, 8])
    layers = [nn.Conv2d(trial.input_shape[0], w, 3, padding=1), nn.ReLU()]
    for i in range(trial.integer("depth", 1, 3)):
        k = trial.choice(f"k{i}", [1, 3])
        layers += [nn.Conv2d(w, w, k, padding=k // 2), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(w, trial.num_classes))


def typed(trial) -> nn.Module:
    """Options of every JSON scalar type, and a name asked twice with the same options."""
    a = trial.choice("a", [1.0, 2.5])
    b = trial.choice("b", [True, False])
    c = trial.choice("c", [None, "x"])
    assert trial.choice("b", [True, False]) is b
    n = trial.integer("n", 2, 8, step=3)
    return nn.Linear(2, int(a * 2) + n + (c is None) + b)


def plain(trial) -> nn.Module:
    """No conditions: 3 * 4 architectures."""
    trial.choice("x", ["p", "q", "r"])
    trial.integer("y", 0, 3)
    return nn.Linear(2, 2)


@pytest.fixture(scope="module")
def space() -> DefineByRunSpace:
    return make_space(tiny, input_size=8)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# -- the derived interface -------------------------------------------------------------------
def test_contract(space):
    check_space(space, seed=0)
    assert space.name == "tiny" and space.input_shape == (3, 8, 8)


def test_size_and_enumerate_walk_the_tree(space):
    # width (2) x (depth 1: 2 + depth 2: 4 + depth 3: 8)
    assert space.size() == 2 * (2 + 4 + 8)
    archs = list(space.enumerate())
    assert len(archs) == len(set(archs)) == 28
    depths = {a: json.loads(a.text)["depth"] for a in archs}
    assert all(len(a.spec) == 2 + depths[a] for a in archs)
    assert make_space(plain).size() == 12


def test_notation_is_canonical_json(space):
    a = space.parse(' { "width": 8, "k1": 3, "depth": 2, "k0": 1 } ')
    assert str(a) == a.key == '{"depth":2,"k0":1,"k1":3,"width":8}'
    assert space.parse(str(a)) == a and a.space == "tiny"
    assert canonical_json(dict(a.spec)) == a.text
    assert space.choices(a) == {"depth": 2, "k0": 1, "k1": 3, "width": 8}


def test_json_values_match_options_by_type():
    s = make_space(typed)
    a = s.parse('{"a": 1, "b": true, "c": null, "n": 5}')
    assert a.text == '{"a":1.0,"b":true,"c":null,"n":5}'
    with pytest.raises(InvalidArchError, match="not one of its options"):
        s.parse('{"a": 1.0, "b": 1, "c": null, "n": 5}')  # 1 is not true
    with pytest.raises(InvalidArchError, match="not one of its options"):
        s.parse('{"a": 1.0, "b": true, "c": null, "n": 4}')  # not on the step
    assert s.size() == 2 * 2 * 2 * 3


def test_sample_draws_each_choice_and_is_seeded(space):
    a = [space.sample(np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]
    seen = {space.sample(np.random.default_rng(s)) for s in range(60)}
    assert len(seen) > 10
    assert {json.loads(x.text)["depth"] for x in seen} == {1, 2, 3}


def test_mutate_changes_one_choice_and_keeps_the_others(space):
    rng = np.random.default_rng(0)
    for _ in range(30):
        a = space.sample(rng)
        b = space.mutate(a, rng)
        assert b != a and space.parse(str(b)) == b
        va, vb = dict(a.spec), dict(b.spec)
        changed = {k for k in va if k in vb and va[k] != vb[k]}
        assert len(changed) == 1
        if "depth" not in changed:
            assert set(va) == set(vb)  # no structural change: the same questions
        else:  # layers that still exist keep their kernels; new ones are drawn
            assert all(vb[f"k{i}"] == va[f"k{i}"] for i in range(min(va["depth"], vb["depth"])))
            assert set(vb) == {"width", "depth", *(f"k{i}" for i in range(vb["depth"]))}


def test_neighbors(space):
    a = space.parse('{"depth":2,"k0":3,"k1":1,"width":8}')
    nb = space.neighbors(a)
    assert a not in nb and len(nb) == len(set(nb))
    # width (1), depth (2: to 1 and 3), k0 (1), k1 (1)
    assert len(nb) == 5
    deeper = space.parse('{"depth":3,"k0":3,"k1":1,"k2":1,"width":8}')
    assert deeper in nb  # the new layer takes its first option


def test_build_follows_the_choices(space):
    a = space.parse('{"depth":3,"k0":3,"k1":1,"k2":3,"width":8}')
    m = space.build(a, 5)
    convs = [x for x in m.modules() if isinstance(x, nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [3, 3, 1, 3]
    assert m(torch.randn(2, 3, 8, 8)).shape == (2, 5)
    torch.manual_seed(1)
    w1 = space.build(a, 5)[0].weight.clone()
    torch.manual_seed(1)
    assert torch.equal(w1, space.build(a, 5)[0].weight)


def test_recording_runs_leave_torch_random_state_alone(space):
    state = torch.random.get_rng_state()
    rng = np.random.default_rng(0)
    a = space.sample(rng)
    space.mutate(a, rng)
    space.parse('{"depth":1,"k0":1,"width":4}')
    assert torch.equal(state, torch.random.get_rng_state())


def test_a_function_that_cannot_run_on_meta_runs_on_cpu():
    def needs_values(trial):
        w = trial.choice("w", [2, 3])
        probe = torch.ones(1, 2) @ nn.Linear(2, w).weight.T
        assert probe.shape == (1, w)
        float(probe.sum().item())  # data-dependent: impossible on the meta device
        return nn.Linear(2, w)

    s = make_space(needs_values)
    assert s.size() == 2 and s.sample(np.random.default_rng(0)).space == "needs-values"


def test_size_gives_up_on_large_or_endless_spaces():
    for limit, size in ((28, 28), (27, None), (5, None)):  # 28 architectures
        s = from_function(tiny, input_size=8)
        type(s).size_limit = limit
        assert s.size() == size
    big = from_function(tiny, input_size=8)
    type(big).size_limit = 5
    assert big.size() is None
    with pytest.raises(NotImplementedError, match="size_limit"):
        next(big.enumerate())

    def endless(trial):
        i = 0
        while trial.choice(f"more{i}", [True, False]):
            i += 1
        return nn.Linear(1, 1)

    s = make_space(endless)
    assert s.size() is None
    a = s.sample(np.random.default_rng(0))  # sampling ends (each step stops with p = 1/2)
    assert s.parse(str(a)) == a


# -- errors ----------------------------------------------------------------------------------
def test_function_raising_is_wrapped_and_named():
    def broken(trial):
        trial.choice("w", [1, 2])
        raise RuntimeError("boom")

    with pytest.raises(SpaceError, match=r"broken raised RuntimeError: boom") as info:
        make_space(broken)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert isinstance(info.value, ConfigError)


def test_function_returning_no_module():
    with pytest.raises(SpaceError, match="returned int, not an nn.Module"):
        make_space(lambda trial: trial.choice("w", [1, 2]))


def test_no_choice_asked():
    with pytest.raises(SpaceError, match="asked no choice"):
        make_space(lambda trial: nn.Linear(1, 1))


def test_same_name_with_other_options():
    def twice(trial):
        trial.choice("w", [1, 2])
        trial.choice("w", [1, 2, 3])
        return nn.Linear(1, 1)

    with pytest.raises(SpaceError, match="'w' is asked twice with different options"):
        make_space(twice)


@pytest.mark.parametrize("ask, match", [
    (lambda t: t.choice("w", []), "options are empty"),
    (lambda t: t.choice("w", "ab"), "must be a list"),
    (lambda t: t.choice("w", [[1], [2]]), "not a JSON scalar"),
    (lambda t: t.choice("w", [float("nan")]), "not a JSON scalar"),
    (lambda t: t.choice("w", [1, 1.0]), "listed twice"),
    (lambda t: t.integer("w", 3, 1), "low <= high"),
    (lambda t: t.integer("w", 1.5, 3), "must be an int"),
])
def test_bad_questions(ask, match):
    def fn(trial):
        ask(trial)
        return nn.Linear(1, 1)

    with pytest.raises(SpaceError, match=match):
        make_space(fn)


@pytest.mark.parametrize("text, match", [
    ('{"width":4,"depth":1,"k0":3,"zz":1}', "unknown choice name.*'zz'"),
    ('{"width":5,"depth":1,"k0":3}', "value 5 of choice 'width' is not one of its options"),
    ('{"width":4,"depth":2,"k0":3}', "choice 'k1' is missing"),
    ('{"width":4,"depth":1,"k0":3,"k1":3}', "unknown choice name.*'k1'"),
    ("not json", "expected a JSON object"),
    ("[4, 1]", "expected a JSON object"),
])
def test_bad_architectures(space, text, match):
    with pytest.raises(InvalidArchError, match=match):
        space.parse(text)


def test_foreign_arch_and_bad_num_classes(space):
    with pytest.raises(InvalidArchError, match="given to"):
        space.check(Arch("other", "x", "x", spec=()))
    with pytest.raises(ConfigError, match="num_classes"):
        space.build(space.sample(np.random.default_rng(0)), 0)


def test_space_options_are_checked():
    with pytest.raises(ConfigError, match="unknown option 'C'"):
        make_space(tiny, C=3)
    with pytest.raises(ConfigError, match="input_size must be >= 1"):
        make_space(tiny, input_size=0)


# -- naming a function: make_space, targets, registration, entry points -----------------------
def test_make_space_keeps_names_and_objects(space):
    assert make_space(space) is space
    with pytest.raises(ConfigError, match="space object"):
        make_space(space, input_size=8)
    assert make_space("nasbench201", C=8, N=1).name == "nasbench201"


SPACE_FILE = textwrap.dedent('''
    from torch import nn

    def file_space(trial):
        w = trial.choice("w", [2, 4])
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * trial.input_shape[1] ** 2, w))
''')


def test_target_file_and_module(tmp_path, monkeypatch):
    path = tmp_path / "my_spaces.py"
    path.write_text(SPACE_FILE)
    s = make_space(f"{path}:file_space", input_size=4)
    assert s.name == "file-space" and s.size() == 2
    assert s.build(s.parse('{"w":4}'), 3)(torch.randn(1, 3, 4, 4)).shape == (1, 4)
    monkeypatch.syspath_prepend(str(tmp_path))
    t = make_space("my_spaces:file_space")
    assert t.parse('{"w":2}').key == '{"w":2}'
    # another process finds the function again from the target (pickled by the executors)
    again = pickle.loads(pickle.dumps(s))
    assert again.opts == s.opts and again.parse('{"w":4}') == s.parse('{"w":4}')


def test_target_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no file"):
        make_space(f"{tmp_path}/missing.py:fn")
    with pytest.raises(ConfigError, match="cannot import 'no_such_pkg_x.mod'"):
        make_space("no_such_pkg_x.mod:fn")
    path = tmp_path / "my_spaces2.py"
    path.write_text(SPACE_FILE)
    with pytest.raises(ConfigError, match="has no attribute 'file_spaec'. Did you mean "
                                          "'file_space'"):
        make_space(f"{path}:file_spaec")
    bad = tmp_path / "bad.py"
    bad.write_text("raise ImportError('needs a thing')\n")
    with pytest.raises(ConfigError, match="importing .* failed .*needs a thing"):
        make_space(f"{bad}:fn")
    with pytest.raises(ConfigError, match="expected 'package.module:function'"):
        make_space("module:")


def test_define_space_registers_by_name():
    try:
        @nasx.define_space("tiny-dbr-test", input_size=8,
                           options={"wide": (bool, False, "double the width")})
        def tiny_named(trial):
            w = trial.choice("w", [2, 3]) * (2 if trial.opts["wide"] else 1)
            return nn.Linear(2, w)

        assert tiny_named(type("T", (), {"choice": lambda s, n, o: 2, "opts": {"wide": 0}})())
        assert "tiny-dbr-test" in nasx.list_spaces()
        s = make_space("tiny-dbr-test", wide="true")
        assert s.input_shape == (3, 8, 8) and s.opts["wide"] is True
        assert s.build(s.parse('{"w":3}'), 2).out_features == 6
        assert make_space(tiny_named).name == "tiny-dbr-test"  # the function knows its space
        assert pickle.loads(pickle.dumps(s)).opts == s.opts
        with pytest.raises(nasx.errors.RegistrationError, match="already registered"):
            define_space("nasbench201")(tiny)
    finally:
        registry.remove("tiny-dbr-test")


def test_entry_point_naming_a_function_registers_a_space():
    try:
        registry._register_loaded("ep-tiny-dbr", tiny)
        s = make_space("ep-tiny-dbr", input_size=8)
        assert isinstance(s, DefineByRunSpace) and s.name == "ep-tiny-dbr"
        assert s.size() == 28
    finally:
        registry.remove("ep-tiny-dbr")


def test_register_space_still_rejects_non_spaces():
    with pytest.raises(nasx.errors.RegistrationError,
                       match="must subclass SearchSpace .*nasx.define_space"):
        nasx.register_space("not-a-space")(tiny)


def test_pruning_refuses_with_a_reason(space):
    from nasx.strategies.pruning import PruningSearch

    with pytest.raises(ConfigError, match="does not support pruning") as info:
        PruningSearch(space)
    assert "\n" not in str(info.value)


# -- the engine: search, score, eval, store ---------------------------------------------------
SEARCH = dict(proxy="params", budget=6, seed=0)  # data-free: no probe data is loaded


@pytest.mark.parametrize("strategy", ["random", "evolution"])
def test_search_over_a_function(tmp_path, strategy):
    store = str(tmp_path / "s.sqlite")
    opts = {"population": 3, "sample": 2} if strategy == "evolution" else {}
    r = nasx.search(space=tiny, space_opts={"input_size": 8}, strategy=strategy,
                    strategy_opts=opts, store=store, **SEARCH)
    s = make_space(tiny, input_size=8)
    assert r.evaluated == 6 and s.parse(str(r.best)) == r.best
    # params ranks the widest, deepest net first: the proxy reads the built networks
    best = s.build(s.parse(str(r.best)), 4)
    assert all(n_params(best) >= n_params(s.build(s.parse(str(a)), 4)) for a, _ in r.top)
    again = nasx.search(space=tiny, space_opts={"input_size": 8}, strategy=strategy,
                        strategy_opts=opts, store=store, **SEARCH)
    assert again.cached == 6 and str(again.best) == str(r.best)


def test_cli_score_and_eval_with_a_file_target(tmp_path, capsys):
    from nasx.cli.main import main

    path = tmp_path / "cli_space.py"
    path.write_text(SPACE_FILE)
    target = f"{path}:file_space"
    store = str(tmp_path / "s.sqlite")
    code = main(["score", "--space", target, "--space-opt", "input_size=4", "--proxy",
                 "params", '{"w": 4}', "--json", "--store", store])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '{\\"w\\":4}' in out or '{"w":4}' in out
    truth = tmp_path / "truth.csv"
    truth.write_text('arch,accuracy\n"{""w"":2}",50.0\n"{""w"":4}",60.0\n')
    code = main(["eval", "--space", target, "--space-opt", "input_size=4", "--proxy", "params",
                 "--truth", str(truth), "--json", "--store", store])
    out, err = capsys.readouterr()
    assert code == 0, err
    d = json.loads(out)
    assert d["params"]["kendall"] == pytest.approx(1.0) and d["params"]["n"] == 2
    assert d["settings"]["space"] == "file-space"
    code = main(["score", "--space", target, "--proxy", "params", '{"w": 5}', "--store", store])
    _, err = capsys.readouterr()
    assert code == 2 and "not one of its options" in err


# -- invariants -------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_round_trip_and_mutation_stay_valid(seed, steps):
    s = make_space(tiny, input_size=8)
    rng = np.random.default_rng(seed)
    a = s.sample(rng)
    for _ in range(steps):
        assert s.parse(str(a)) == a and s.parse(json.dumps(dict(a.spec), indent=1)) == a
        b = s.mutate(a, rng)
        assert b != a
        a = s.parse(str(b))
    assert a.text == canonical_json(json.loads(a.text))
