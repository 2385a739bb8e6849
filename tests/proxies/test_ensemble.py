"""Ensembles of proxies: names, files, the aggregation arithmetic, and their use in score,
eval and every strategy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import nasx
import nasx.testing  # noqa: F401  (toy space + oracle)
from nasx.errors import ConfigError, NasxError, UnknownNameError
from nasx.population import leaf_proxies, population_values
from nasx.proxies.base import get_proxy
from nasx.proxies.ensemble import ensemble, parse_ensemble, register_ensemble


def _values(spec, **leaves):
    return population_values(spec, {k: list(v) for k, v in leaves.items()})


def test_plus_syntax_gives_an_equal_weight_log_rank_ensemble():
    s = get_proxy("params+synflow")
    assert s.population and s.higher_is_better
    assert s.components == ("params", "synflow")
    assert [p.name for p in leaf_proxies([s])] == ["params", "synflow"]
    # params ranks (1, 2, 3), synflow (lower is worse... higher better): ranks (3, 1, 2)
    v = _values(s, params=[1.0, 2.0, 3.0], synflow=[30.0, 10.0, 20.0])
    expect = [math.log(1 / 3) + math.log(3 / 3), math.log(2 / 3) + math.log(1 / 3),
              math.log(3 / 3) + math.log(2 / 3)]
    assert v == pytest.approx(expect)


def test_rank_sum_weights_and_orientation():
    # jacob-cov: higher is better; "ntk" is lower-is-better: its ranks are reversed
    assert not get_proxy("ntk").higher_is_better
    s = get_proxy("2*params+ntk[rank]")
    v = _values(s, params=[1.0, 2.0, 3.0], ntk=[5.0, 1.0, 9.0])
    # params ranks (1, 2, 3) x 2; ntk oriented: 1.0 best -> ranks (2, 3, 1)
    assert v.tolist() == [2 * 1 + 2, 2 * 2 + 3, 2 * 3 + 1]


def test_failures_rank_last_and_all_failed_is_nan():
    s = get_proxy("params+synflow[rank]")
    v = _values(s, params=[1.0, None, 3.0, None], synflow=[1.0, 2.0, None, None])
    # params: failures share rank 1.5, then 1.0 -> 3, 3.0 -> 4; synflow: None x2 share 1.5
    assert v[:3].tolist() == [3 + 3, 1.5 + 4, 4 + 1.5]
    assert math.isnan(v[3])


def test_names_read_back_to_the_same_ensemble():
    for text in ("params+flops", "2*params+flops[rank]", "0.5*naswot+gradalign-i"):
        s = get_proxy(text)
        again = get_proxy(s.name)
        assert again.components == s.components
        assert again.combine.weights == s.combine.weights
        assert again.combine.aggregation == s.combine.aggregation
    assert get_proxy(" params + flops ").name == "params+flops"
    one = get_proxy("synflow[rank]")
    assert one.population and one.components == ("synflow",)
    assert get_proxy("3*synflow").combine.weights == (3.0,)


@pytest.mark.parametrize("text, message", [
    ("params+", "empty member"),
    ("params+params", "more than once"),
    ("params+flops[median]", "unknown ensemble aggregation"),
    ("x*params+flops", r"not 'weight\*proxy'"),
    ("0*params+flops", "positive number"),
    ("-1*params+flops", "positive number"),
    ("nan*params+flops", "positive number"),
])
def test_bad_ensemble_text(text, message):
    with pytest.raises(ConfigError, match=message):
        get_proxy(text)


def test_unknown_member_says_which():
    with pytest.raises(UnknownNameError, match="gradalign-j"):
        get_proxy("gradalign-j+params")


def test_yaml_and_json_files(tmp_path):
    y = tmp_path / "ens.yaml"
    y.write_text("name: my-ens\naggregation: rank\nmembers:\n  params: 2\n  flops: 1\n")
    s = get_proxy(str(y))
    assert s.name == "my-ens" and s.components == ("params", "flops")
    assert s.combine.weights == (2.0, 1.0) and s.combine.aggregation == "rank"
    j = tmp_path / "ens.json"
    j.write_text(json.dumps({"members": ["params", "flops"], "weights": [1, 3]}))
    s = get_proxy(str(j))
    assert s.name == "params+3*flops" and s.combine.aggregation == "log-rank"
    # a file member inside a "+" ensemble
    s = get_proxy(f"synflow+{y}")
    assert [p.name for p in leaf_proxies([s])] == ["synflow", "params", "flops"]
    v = _values(s, synflow=[1.0, 2.0], params=[1.0, 2.0], flops=[1.0, 2.0])
    assert v[1] > v[0]


@pytest.mark.parametrize("body, message", [
    ("members: params\n", "list of proxy names"),
    ("members: []\n", "at least one member"),
    ("[1, 2]\n", "must be a mapping"),
    ("members: [params]\nweight: [1]\n", "unknown key"),
    ("members: [params, flops]\nweights: [1]\n", "2 members but 1 weights"),
    ("members: {params: 1}\nweights: [1]\n", "not both"),
    ("members: [params]\nname: ''\n", "non-empty string"),
    ("members: [params\n", "could not be read"),
])
def test_bad_ensemble_files(tmp_path, body, message):
    p = tmp_path / "bad.yaml"
    p.write_text(body)
    with pytest.raises(ConfigError, match=message):
        get_proxy(str(p))


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        get_proxy("/nonexistent/ens.yaml")


def test_python_forms_and_registration():
    s = nasx.ensemble({"params": 2.0, "flops": 1.0}, aggregation="rank")
    assert s.name == "2*params+flops[rank]"
    with pytest.raises(ConfigError):
        ensemble(["params"], weights=[1, 2])
    reg = register_ensemble("t-ens", ["params", "synflow"], replace=True)
    try:
        assert get_proxy("t-ens") is reg and reg.population
        assert nasx.list_proxies("t-ens") == ["t-ens"]
    finally:
        nasx.registry.proxies.remove("t-ens")


def test_nesting_is_bounded():
    assert parse_ensemble("params+flops").components == ("params", "flops")
    with pytest.raises(ConfigError, match="nest too deeply"):
        ensemble(["params"], _depth=99)


def test_ensemble_in_score_and_eval(batch):
    from nasx.api import make_space

    space = make_space("toy")
    archs = [a.text for a in space.enumerate()][:6]
    res = nasx.score(archs, space="toy", proxy="toy-oracle+params[rank]", data=batch,
                     store=False)
    assert {r.proxy for r in res} == {"toy-oracle+params[rank]"} and all(r.ok for r in res)
    truth = [(a.text, space.fitness(a)) for a in space.enumerate()]
    rep = nasx.evaluate("toy", ["toy-oracle", "toy-oracle+params"], truth, sample=20,
                        data=batch, store=False)
    assert set(rep.metrics) == {"toy-oracle", "toy-oracle+params"}
    assert rep.metrics["toy-oracle+params"]["n"] == 20


@pytest.fixture
def oracle_copy():
    nasx.register_proxy("t-oracle-copy", higher_is_better=True, needs=["none"],
                        replace=True)(get_proxy("toy-oracle").fn)
    yield "t-oracle-copy"
    nasx.registry.proxies.remove("t-oracle-copy")


@pytest.mark.parametrize("strategy", ["random", "evolution"])
def test_ensemble_drives_strategies(batch, strategy, oracle_copy):
    # an ensemble of the oracle with itself ranks exactly as the oracle: random search over
    # all 81 cells and evolution must both return the toy optimum
    r = nasx.search(space="toy", proxy=f"toy-oracle+2*{oracle_copy}", strategy=strategy,
                    budget=81, data=batch, store=False,
                    space_opts={"length": 4, "choices": 3}, seed=0)
    assert r.evaluated > 0 and str(r.best) == "2-2-2-2"


def test_ensemble_search_on_nasbench201_reuses_stored_members(batch, tmp_path):
    opts = {"C": 8, "N": 1, "input_size": 8}
    store = tmp_path / "s.sqlite"
    first = nasx.search(space="nasbench201", proxy="naswot+synflow", budget=4, data=batch,
                        store=str(store), space_opts=opts, seed=3)
    again = nasx.search(space="nasbench201", proxy="synflow+naswot[rank]", budget=4,
                        data=batch, store=str(store), space_opts=opts, seed=3)
    assert again.cached == 4 and str(again.best) in [t for t, _ in first.top] + [str(first.best)]
    assert math.isfinite(first.score)


def test_cli_search_and_score_with_ensembles(tmp_path, capsys):
    from nasx.cli.main import main

    y = tmp_path / "e.yaml"
    y.write_text("members: {params: 1, synflow: 1}\naggregation: rank\n")
    rc = main(["search", "--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
               "--space-opt", "input_size=8", "--proxy", str(y), "--budget", "3",
               "--no-store", "--data", "shape"])
    assert rc == 0
    rc = main(["search", "--space", "nasbench201", "--proxy", "params+nosuch", "--budget", "3",
               "--no-store", "--data", "shape"])
    assert rc == 2
    assert "nosuch" in capsys.readouterr().err


def test_errors_are_nasx_errors():
    assert issubclass(ConfigError, NasxError)
    assert np.isnan(_values(get_proxy("params+flops"), params=[None], flops=[None])[0])
