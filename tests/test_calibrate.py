"""nasx.calibrate: the fitted ranking model on synthetic features with a known answer, the
selection rule, the model file and its key, and ``calibrated:<file>`` as a proxy."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy import stats

import nasx.testing  # noqa: F401  (registers the toy space and the toy-oracle proxy)
from nasx.calibrate import (
    CalibratedModel,
    fit,
    fit_from_truth,
    load_model,
    quantile_features,
    save_model,
)
from nasx.errors import ConfigError, DataError
from nasx.population import population_values
from nasx.proxies.base import get_proxy
from nasx.testing.toy import ToySpace, toy_fitness

pytestmark = pytest.mark.filterwarnings("ignore:synthetic probe data")


def _data(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"a": rng.normal(size=n), "b": rng.lognormal(size=n), "noise": rng.normal(size=n)}


def _archs(n: int, start: int = 0) -> list[str]:
    return [f"arch-{i}" for i in range(start, start + n)]


def _tau(x, y) -> float:
    return float(stats.kendalltau(x, y).statistic)


def test_quantile_features_are_mid_ranks_and_failures_are_neutral():
    ref = np.array([1.0, 2.0, 2.0, 3.0])
    q = quantile_features(np.array([0.0, 1.0, 2.0, 2.5, 9.0, np.nan]), ref)
    assert q.tolist() == [0.0, 1 / 8, 4 / 8, 6 / 8, 1.0, 0.5]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_one_informative_feature_is_found_with_its_orientation(sign):
    train, test = _data(30, 0), _data(200, 1)
    acc = sign * np.log(train["b"])  # a monotone function of one feature
    m = fit(train, acc, archs=_archs(30), seed=0)
    w = dict(zip(m.features, m.weights))
    assert abs(w["b"]) == max(abs(v) for v in w.values())
    assert np.sign(w["b"]) == sign
    assert _tau(m(test), sign * test["b"]) > 0.9


def test_a_combination_beats_every_single_feature_on_new_archs():
    """Accuracy = rank(a) + rank(b): no single feature ranks it; the linear models do."""
    train, test = _data(60, 2), _data(400, 3)

    def truth(d):
        return stats.rankdata(d["a"]) / len(d["a"]) + stats.rankdata(d["b"]) / len(d["b"])

    m = fit(train, truth(train), archs=_archs(60), seed=0, reference=test)
    assert m.kind in ("ridge", "ranknet")
    best_single = max(abs(_tau(test[k], truth(test))) for k in ("a", "b", "noise"))
    assert _tau(m(test), truth(test)) > best_single + 0.1
    w = dict(zip(m.features, m.weights))
    assert abs(w["noise"]) < 0.5 * min(w["a"], w["b"])


def test_selection_table_and_rule():
    train = _data(25, 4)
    m = fit(train, train["a"] + 0.1 * train["noise"], archs=_archs(25), seed=1)
    kinds = [row["kind"] for row in m.selection]
    assert kinds.count("single") == 3 and "ridge" in kinds and "ranknet" in kinds
    best = max(row["cv_kendall"] for row in m.selection)
    first = next(row for row in m.selection if row["cv_kendall"] >= best - 1e-6)
    assert first["kind"] == m.kind
    assert m.fitted_on["folds"] == 10 and m.fitted_on["n_labels"] == 25
    only = fit(train, train["a"], archs=_archs(25), kinds=("ridge",))
    assert only.kind == "ridge" and {r["kind"] for r in only.selection} == {"ridge"}


def test_key_moves_with_labels_features_versions_fingerprint_and_seed():
    d = _data(20, 5)
    acc = d["a"].copy()
    kw = dict(archs=_archs(20), seed=0, data_fingerprint="abc", kinds=("single", "ridge"))
    base = fit(d, acc, **kw).key
    assert fit(d, acc, **kw).key == base  # deterministic
    acc2 = acc.copy()
    acc2[3] += 0.5
    assert fit(d, acc2, **kw).key != base  # one label changed
    assert fit(d, acc, **{**kw, "archs": _archs(20, 1)}).key != base  # other archs
    assert fit(d, acc, **{**kw, "seed": 1}).key != base
    assert fit(d, acc, **{**kw, "data_fingerprint": "abd"}).key != base
    assert fit(d, acc, **kw, versions={"a": "2"}).key != base
    assert fit({k: d[k] for k in ("a", "b")}, acc, **kw).key != base
    assert fit(d, acc, **{**kw, "kinds": ("single",)}).key != base


def test_model_file_round_trip_and_tampering(tmp_path):
    d = _data(30, 6)
    m = fit(d, d["a"] - d["b"], archs=_archs(30), seed=0)
    p = save_model(m, tmp_path / "cal.json")
    back = load_model(p)
    assert back.key == m.key
    other = _data(50, 7)
    np.testing.assert_allclose(back(other), m(other))
    doc = json.loads(p.read_text())
    doc["model"]["weights"]["a"] += 1.0
    p.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="does not match"):
        load_model(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_model(tmp_path / "missing.json")


def test_bad_inputs_are_errors():
    d = _data(10, 8)
    with pytest.raises(DataError, match="all equal"):
        fit(d, np.ones(10), archs=_archs(10))
    with pytest.raises(DataError, match="at least 3"):
        fit({"a": [1.0, 2.0]}, [1.0, 2.0], archs=_archs(2))
    with pytest.raises(DataError, match="same length"):
        fit(d, d["a"][:9], archs=_archs(9))
    with pytest.raises(ConfigError, match="candidate kind"):
        fit(d, d["a"], archs=_archs(10), kinds=("svm",))


def test_calibrated_proxy_is_a_per_model_score(tmp_path):
    d = _data(30, 9)
    m = fit({"params": d["a"], "flops": d["b"]}, d["a"], archs=_archs(30), seed=0)
    path = save_model(m, tmp_path / "cal.json")
    spec = get_proxy(f"calibrated:{path}")
    assert spec.higher_is_better and spec.population and spec.version == m.key
    assert set(spec.components) == {"params", "flops"}
    leaves = {"params": [3.0, -1.0, None, 0.5], "flops": [1.0, 2.0, 3.0, 4.0]}
    vals = population_values(spec, leaves)
    alone = population_values(spec, {k: v[1:2] for k, v in leaves.items()})
    assert vals[1] == alone[0]  # one arch's score does not depend on the others
    assert np.all(np.isfinite(vals))
    assert np.isnan(population_values(spec, {"params": [None], "flops": [None]})[0])
    assert isinstance(spec.combine, CalibratedModel)


def test_fit_from_truth_then_evaluate_on_the_toy_space(tmp_path):
    """End to end: labels CSV -> scored features -> model file -> `calibrated:` in evaluate."""
    space = ToySpace()
    archs = list(space.enumerate())
    rng = np.random.default_rng(0)
    picked = [archs[i] for i in rng.choice(len(archs), 12, replace=False)]
    truth = tmp_path / "labels.csv"
    with open(truth, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "accuracy"])
        for a in picked:
            w.writerow([a.text, -toy_fitness(a.spec, 3)])  # the toy oracle, reversed
    out = tmp_path / "cal.json"
    m = fit_from_truth(truth, "toy", ["toy-oracle", "params"], out=out, data="synthetic",
                       batch_size=10, device="cpu", store=False)
    assert out.is_file() and m.fitted_on["n_labels"] == 12
    assert m.fitted_on["space"] == "toy"
    w = dict(zip(m.features, m.weights))
    assert w["toy-oracle"] < 0  # learned the reversed orientation from the labels

    from nasx.evaluation import evaluate

    with pytest.raises(ConfigError, match="per-model"):
        fit_from_truth(truth, "toy", ["nasx-cross"], data="synthetic", store=False)
    all_truth = [(a.text, -toy_fitness(a.spec, 3)) for a in archs]
    rep = evaluate("toy", f"calibrated:{out}", all_truth, data="synthetic", batch_size=10,
                   store=False, device="cpu", sample=30)
    assert rep.metrics[f"calibrated:{out}"]["kendall"] > 0.8


def test_search_uses_the_calibrated_proxy(tmp_path, batch):
    """A search with ``calibrated:<file>`` finds the optimum the labels point to: the toy
    oracle reversed, i.e. the all-zero string."""
    import nasx

    space = ToySpace(length=4, choices=3)
    archs = list(space.enumerate())
    rng = np.random.default_rng(1)
    picked = [archs[i] for i in rng.choice(len(archs), 15, replace=False)]
    feats = {"toy-oracle": [toy_fitness(a.spec, 3) for a in picked]}
    m = fit(feats, [-v for v in feats["toy-oracle"]], archs=[a.text for a in picked], seed=0,
            reference={"toy-oracle": [toy_fitness(a.spec, 3) for a in archs]})
    path = save_model(m, tmp_path / "cal.json")
    r = nasx.search(space="toy", proxy=f"calibrated:{path}", strategy="random", budget=81,
                    data=batch, store=False, space_opts={"length": 4, "choices": 3})
    assert str(r.best) == "0-0-0-0"


def test_cli_calibrate_then_eval(tmp_path, capsys):
    from nasx.cli.main import main

    space = ToySpace()
    archs = list(space.enumerate())
    truth = tmp_path / "all.csv"
    with open(truth, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "accuracy"])
        for a in archs:
            w.writerow([a.text, -toy_fitness(a.spec, 3)])
    labels = tmp_path / "labels.csv"
    labels.write_text("".join(truth.read_text().splitlines(keepends=True)[:13]))
    out = tmp_path / "cal.json"
    common = ["--space", "toy", "--data", "synthetic", "--batch-size", "10", "--no-store",
              "--device", "cpu", "--quiet"]
    code = main(["calibrate", *common, "--proxy", "toy-oracle,params", "--truth", str(labels),
                 "--out", str(out), "--json"])
    got = capsys.readouterr()
    assert code == 0, got.err
    doc = json.loads(got.out)
    assert doc["key"] == load_model(out).key and doc["fitted_on"]["n_labels"] == 12
    code = main(["eval", *common, "--proxy", f"calibrated:{out}", "--truth", str(truth),
                 "--all", "--json"])
    got = capsys.readouterr()
    assert code == 0, got.err
    assert json.loads(got.out)[f"calibrated:{out}"]["kendall"] > 0.8
    assert main(["calibrate", *common, "--truth", str(labels)]) == 2  # no --out


@pytest.mark.parametrize("kind", ["ridge", "ranknet"])
def test_each_linear_model_recovers_a_known_combination(kind):
    """Accuracy = 2 q(a) + q(b) (quantiles among the pool): both linear models find the
    weights' signs and order, and rank new architectures almost perfectly."""
    pool = _data(500, 10)
    qa = stats.rankdata(pool["a"]) / 500
    qb = stats.rankdata(pool["b"]) / 500
    acc = 2 * qa + qb
    idx = np.random.default_rng(0).choice(500, 80, replace=False)
    m = fit({k: v[idx] for k, v in pool.items()}, acc[idx], archs=_archs(80), seed=0,
            reference=pool, kinds=(kind,))
    w = dict(zip(m.features, m.weights))
    assert m.kind == kind and w["a"] > w["b"] > abs(w["noise"])
    rest = np.setdiff1d(np.arange(500), idx)
    assert _tau(m({k: v[rest] for k, v in pool.items()}), acc[rest]) > 0.85
