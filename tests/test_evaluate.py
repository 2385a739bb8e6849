"""nasx.evaluation: every metric against hand-computed / scipy values, population proxies,
shared per-sample gradients, init seeds, failures, the store, and the `nasx eval` CLI."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from scipy import stats

import nasx.testing  # noqa: F401  (registers the toy space and the toy-oracle proxy)
from nasx import evaluate
from nasx.errors import ConfigError, DataError, InvalidArchError
from nasx.evaluation import rank_metrics, read_truth
from nasx.population import rank_sum
from nasx.proxies.base import register_proxy
from nasx.testing.toy import ToySpace, toy_fitness

pytestmark = pytest.mark.filterwarnings("ignore:synthetic probe data")

TINY201 = {"C": 8, "N": 1, "input_size": 8}


# -- proxies registered for these tests ------------------------------------------------------
def _digits(model):
    from torch import nn

    return tuple(m.out_channels // 4 - 1 for m in model.modules() if isinstance(m, nn.Conv2d))


@register_proxy("test-eval-neg-oracle", higher_is_better=False, needs=("none",),
                paper="(test)", replace=True)
def _neg_oracle(model, batch, ctx):
    return -toy_fitness(_digits(model), ctx.space.opts["choices"])


@register_proxy("test-eval-width", higher_is_better=True, needs=("none",), paper="(test)",
                replace=True)
def _width(model, batch, ctx):
    return float(sum(p.numel() for p in model.parameters()))


@register_proxy("test-eval-init", higher_is_better=True, needs=("none",), paper="(test)",
                replace=True)
def _init_dependent(model, batch, ctx):
    import torch

    w = next(p for p in model.parameters() if p.dim() == 4)
    return float(torch.sum(w).item())


@register_proxy("test-eval-flaky", higher_is_better=True, needs=("none",), paper="(test)",
                replace=True)
def _flaky(model, batch, ctx):
    d = _digits(model)
    if d[0] == 0:
        raise RuntimeError("first digit is zero")
    if d[0] == 1 and d[1] == 0:
        return float("nan")
    return toy_fitness(d, ctx.space.opts["choices"])


register_proxy("test-eval-pop", higher_is_better=True, needs=("none",), paper="(test)",
               components=("toy-oracle", "test-eval-width"), combine=rank_sum, replace=True)


def _toy_truth():
    space = ToySpace()
    return [(a.text, toy_fitness(a.spec, 3)) for a in space.enumerate()]


def _eval_toy(proxy, **kw):
    kw.setdefault("sample", 30)
    return evaluate("toy", proxy, _toy_truth(), data="synthetic", batch_size=10, store=False,
                    device="cpu", **kw)


# -- rank_metrics -------------------------------------------------------------------------------
def test_rank_metrics_match_scipy_with_failures_ranked_last():
    rng = np.random.default_rng(0)
    acc = rng.normal(70, 5, size=60)
    vals = acc + rng.normal(0, 4, size=60)
    vals[[3, 17, 40]] = np.nan
    vals[22] = np.inf
    m = rank_metrics(list(vals), acc)
    failed = ~np.isfinite(vals)
    # failures tied below every successful score
    ranked = np.where(failed, np.nanmin(vals[~failed]) - 1000.0, vals)
    assert m["n"] == 60 and m["failed"] == 4
    assert m["kendall"] == pytest.approx(stats.kendalltau(ranked, acc).statistic, abs=1e-12)
    assert m["spearman"] == pytest.approx(stats.spearmanr(ranked, acc).statistic, abs=1e-12)
    assert m["pearson"] == pytest.approx(
        stats.pearsonr(vals[~failed], acc[~failed]).statistic, abs=1e-12)
    # orientation: negated scores with higher_is_better=False give the same metrics
    m2 = rank_metrics([-v for v in vals], acc, higher_is_better=False)
    for k in ("kendall", "spearman", "pearson", "precision_top10", "top1_acc"):
        assert m2[k] == pytest.approx(m[k])


def test_rank_metrics_hand_computed():
    # 20 archs: acc 0..19; proxy ranks them perfectly except it swaps the two best
    acc = np.arange(20, dtype=float)
    vals = acc.copy()
    vals[19], vals[18] = 18.0, 19.0
    m = rank_metrics(vals, acc)
    # one discordant pair out of 190
    assert m["kendall"] == pytest.approx((189 - 1) / 190)
    assert m["top1_acc"] == 18.0 and m["top1_rank"] == 2 and m["top1_ties"] == 1
    assert m["best_acc"] == 19.0
    # k=1%: m = max(1, round(0.2)) = 1: proxy's top-1 is acc 18, the true best is 19 -> 0
    assert m["precision_top1"] == 0.0
    # k=5%: m = 1 as well; k=10%: m = 2: {18, 19} vs {18, 19} -> 1
    assert m["precision_top5"] == 0.0
    assert m["precision_top10"] == 1.0


def test_rank_metrics_topk_sizes_and_ties():
    # n = 30: k=5% -> m = floor(1.5 + 0.5) = 2; k=10% -> 3
    acc = np.array([float(i) for i in range(30)])
    vals = -acc  # exactly reversed
    vals[0] = 100.0  # the worst arch is ranked first
    m = rank_metrics(vals, acc)
    assert m["top1_acc"] == 0.0 and m["top1_rank"] == 30
    # top-2 of the proxy: acc 0 and acc 1; true top-2 threshold is 28 -> 0/2
    assert m["precision_top5"] == 0.0
    # ties in accuracy at the threshold count as inside
    acc2 = np.array([5.0, 5.0, 5.0, 1.0, 0.0] * 4)  # n=20, k=10% -> m=2, threshold 5.0
    vals2 = np.array([0.0, 0.0, 3.0, 9.0, 0.0] * 4) + np.arange(20) * 1e-3
    m2 = rank_metrics(vals2, acc2)
    # proxy's top-2: indices 18 (acc 1) and 13 (acc 1) -> 0
    assert m2["precision_top10"] == 0.0
    vals2[17] = 50.0  # acc 5.0, now first
    assert rank_metrics(vals2, acc2)["precision_top10"] == 0.5
    # ties in the proxy score at the top: first in sample order, ties reported
    m3 = rank_metrics([1.0, 3.0, 3.0, 2.0], [10.0, 20.0, 30.0, 40.0])
    assert m3["top1_acc"] == 20.0 and m3["top1_ties"] == 2 and m3["top1_rank"] == 3


def test_rank_metrics_all_failed_and_degenerate():
    m = rank_metrics([None, float("nan"), None], [1.0, 2.0, 3.0])
    assert m["failed"] == 3
    assert math.isnan(m["kendall"]) and math.isnan(m["pearson"])
    assert math.isnan(m["top1_acc"]) and math.isnan(m["precision_top1"])
    m = rank_metrics([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])  # constant score
    assert math.isnan(m["kendall"]) and m["top1_ties"] == 3
    with pytest.raises(ConfigError):
        rank_metrics([1.0, 2.0], [1.0])
    with pytest.raises(DataError):
        rank_metrics([1.0, 2.0], [1.0, float("nan")])


# -- evaluate -----------------------------------------------------------------------------------
def test_evaluate_oracle_ranks_perfectly_in_both_orientations():
    rep = _eval_toy("toy-oracle,test-eval-neg-oracle", seed=3)
    for name in ("toy-oracle", "test-eval-neg-oracle"):
        m = rep.metrics[name]
        assert m["kendall"] == pytest.approx(1.0)
        assert m["spearman"] == pytest.approx(1.0)
        assert m["pearson"] == pytest.approx(1.0)
        assert m["top1_rank"] == 1 and m["top1_acc"] == m["best_acc"]
        assert m["precision_top10"] == 1.0 and m["failed"] == 0
    assert rep.metrics["test-eval-neg-oracle"]["higher_is_better"] is False
    assert rep.settings["sample"] == 30 and rep.settings["truth_archs"] == 81
    # the sample is reproducible and depends on the seed
    again = _eval_toy("toy-oracle", seed=3)
    other = _eval_toy("toy-oracle", seed=4)
    assert [r[0] for r in again.rows] == [r[0] for r in rep.rows if r[1] == "toy-oracle"]
    assert [r[0] for r in other.rows] != [r[0] for r in again.rows]


def test_evaluate_all_and_sample_bounds():
    rep = _eval_toy("toy-oracle", sample=None)
    assert rep.settings["sample"] == 81
    assert _eval_toy("toy-oracle", sample=500).settings["sample"] == 81
    with pytest.raises(ConfigError):
        _eval_toy("toy-oracle", sample=1)
    with pytest.raises(ConfigError):
        _eval_toy("toy-oracle", init_seeds=0)


def test_population_proxy_is_combined_over_the_sample():
    rep = _eval_toy("test-eval-pop,toy-oracle,test-eval-width", sample=25, seed=1)
    _, oracle, acc = rep.scores("toy-oracle")
    _, width, _ = rep.scores("test-eval-width")
    _archs, pop, acc_pop = rep.scores("test-eval-pop")
    expected = rank_sum({"toy-oracle": oracle, "test-eval-width": width})
    np.testing.assert_allclose(pop, expected)
    np.testing.assert_allclose(acc, acc_pop)
    m = rep.metrics["test-eval-pop"]
    ref = rank_metrics(expected, acc)
    for k in ("kendall", "spearman", "pearson", "precision_top5", "top1_acc", "top1_rank"):
        assert m[k] == pytest.approx(ref[k])
    # a population score depends on the population: on a sub-sample the ranks differ
    assert pop.max() == pytest.approx(2 * 25, abs=1.0)


def test_init_seeds_report_mean_and_std():
    rep = _eval_toy("test-eval-init,toy-oracle", init_seeds=2, seed=5, sample=20)
    m = rep.metrics["test-eval-init"]
    per = rep.per_seed["test-eval-init"]
    assert len(per) == 2 and m["init_seeds"] == 2
    assert m["kendall"] == pytest.approx((per[0]["kendall"] + per[1]["kendall"]) / 2)
    assert m["kendall_std"] == pytest.approx(np.std([p["kendall"] for p in per], ddof=1))
    assert per[0]["kendall"] != per[1]["kendall"]  # the initialisation matters for this proxy
    assert rep.metrics["toy-oracle"]["kendall_std"] == pytest.approx(0.0)
    seeds = sorted({r[4] for r in rep.rows})
    assert seeds == [5, 6]
    assert len(rep.rows) == 2 * 2 * 20
    d = rep.to_dict()
    assert len(d["test-eval-init"]["per_seed"]) == 2
    json.dumps(d)  # JSON-ready


def test_failures_are_counted_ranked_last_and_explained():
    rep = _eval_toy("test-eval-flaky", sample=None)
    m = rep.metrics["test-eval-flaky"]
    archs, vals, acc = rep.scores("test-eval-flaky")
    n_fail = sum(1 for a in archs if a.startswith(("0-", "1-0")))
    assert m["failed"] == n_fail == int(np.sum(np.isnan(vals))) == 27 + 9
    assert any("first digit is zero" in e for e in m["errors"])
    assert any("nan" in e for e in m["errors"])
    assert m["kendall"] == pytest.approx(rank_metrics(vals, acc)["kendall"])


def test_gradalign_pair_shares_one_per_sample_gradient_pass(monkeypatch):
    import nasx.proxies.gradalign as ga

    calls = {"n": 0}
    real = ga.stream_per_sample_grads

    def counting(*a, **kw):
        calls["n"] += 1
        return real(*a, **kw)

    monkeypatch.setattr(ga, "stream_per_sample_grads", counting)
    space = nasx_space()
    truth = [(space.sample(np.random.default_rng(i)).text, float(i)) for i in range(3)]
    kw = {"data": "synthetic:2", "batch_size": 8, "store": False, "device": "cpu", "sample": None,
              "space_opts": TINY201}
    evaluate("nasbench201", "gradalign-i", truth, **kw)
    one = calls["n"]
    assert one == 3  # one per-sample-gradient pass (all classes at once) per architecture
    calls["n"] = 0
    rep = evaluate("nasbench201", "gradalign-i,gradalign-ii", truth, **kw)
    assert calls["n"] == one  # the second proxy reuses the cached per-sample gradients
    assert rep.metrics["gradalign-ii"]["failed"] == 0
    # and its own scoring time is a small share of the first proxy's
    assert rep.metrics["gradalign-ii"]["seconds"] < rep.metrics["gradalign-i"]["seconds"]


def nasx_space():
    from nasx.api import make_space

    return make_space("nasbench201", **TINY201)


def test_store_makes_evaluation_resumable(tmp_path):
    store = tmp_path / "scores.sqlite"
    kw = {"data": "synthetic", "batch_size": 10, "device": "cpu", "sample": 12, "seed": 2}
    a = evaluate("toy", "toy-oracle,test-eval-width", _toy_truth(), store=str(store), **kw)
    assert a.settings["cached"] == 0
    b = evaluate("toy", "toy-oracle,test-eval-width", _toy_truth(), store=str(store), **kw)
    assert b.settings["cached"] == 2 * 12
    assert a.rows == b.rows


# -- ground truth files ---------------------------------------------------------------------------
def test_read_truth_columns_and_errors(tmp_path):
    space = ToySpace()
    p = tmp_path / "t.csv"
    p.write_text("cell,acc\n0-1-2-0,50.5\n1-1-1-1,\n2-2-2-2,70\n", encoding="utf-8")
    pairs = read_truth(p, space, "cell", "acc")
    assert [(a.text, v) for a, v in pairs] == [("0-1-2-0", 50.5), ("2-2-2-2", 70.0)]
    with pytest.raises(ConfigError, match="no column 'accuracy'"):
        read_truth(p, space, "cell")
    with pytest.raises(DataError, match="not found"):
        read_truth(tmp_path / "missing.csv", space)
    p.write_text("arch,accuracy\n0-1-2-0,abc\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2"):
        read_truth(p, space)
    p.write_text("arch,accuracy\n0-1-2-0,1\n9-9,2\n", encoding="utf-8")
    with pytest.raises(InvalidArchError, match="line 3"):
        read_truth(p, space)
    p.write_text("arch,accuracy\n0-1-2-0,nan\n", encoding="utf-8")
    with pytest.raises(DataError, match="not finite"):
        read_truth(p, space)


def test_write_csv_has_every_row(tmp_path):
    rep = _eval_toy("toy-oracle,test-eval-flaky", sample=15)
    out = tmp_path / "rows.csv"
    rep.write_csv(out)
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 30
    assert set(rows[0]) == {"arch", "proxy", "score", "accuracy", "init_seed"}
    for r in rows:
        digits = tuple(int(d) for d in r["arch"].split("-"))
        assert float(r["accuracy"]) == pytest.approx(toy_fitness(digits, 3))
        if r["proxy"] == "toy-oracle":
            assert float(r["score"]) == pytest.approx(toy_fitness(digits, 3))
    assert any(r["score"] == "" for r in rows if r["proxy"] == "test-eval-flaky") or \
        rep.metrics["test-eval-flaky"]["failed"] == 0


# -- the CLI ------------------------------------------------------------------------------------
def _truth_csv(tmp_path, n=6):
    space = nasx_space()
    rng = np.random.default_rng(0)
    rows, seen = [], set()
    while len(rows) < n:
        a = space.sample(rng)
        if a.text not in seen:
            seen.add(a.text)
            rows.append((a.text, round(float(rng.uniform(10, 90)), 3)))
    p = tmp_path / "truth.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["cell", "top1"])
        w.writerows(rows)
    return p, rows


def _cli(args):
    from nasx.cli.main import main

    return main(["eval", "--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
                 "--space-opt", "input_size=8", "--data", "synthetic", "--batch-size", "20",
                 "--device", "cpu", "--no-store", "--quiet", *args])


def test_cli_eval_json_csv_and_init_seeds(tmp_path, capsys):
    truth, rows = _truth_csv(tmp_path, n=4)
    out_csv = tmp_path / "scores.csv"
    rc = _cli(["--proxy", "gradalign-i,gradalign-ii", "--truth", str(truth), "--arch-col",
               "cell", "--acc-col", "top1", "--all", "--init-seeds", "2", "--json",
               "--csv", str(out_csv)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    doc = json.loads(captured.out)
    for name in ("gradalign-i", "gradalign-ii"):
        m = doc[name]
        assert m["n"] == 4 and m["init_seeds"] == 2 and len(m["per_seed"]) == 2
        for k in ("kendall", "kendall_std", "spearman", "pearson", "precision_top1",
                  "precision_top5", "precision_top10", "top1_acc", "top1_rank", "failed"):
            assert k in m
    assert doc["settings"]["acc_col"] == "top1" and doc["settings"]["init_seeds"] == 2
    with open(out_csv, newline="", encoding="utf-8") as f:
        got = list(csv.DictReader(f))
    assert len(got) == 2 * 2 * 4
    acc_of = dict(rows)
    for r in got:
        assert float(r["accuracy"]) == pytest.approx(acc_of[r["arch"]])
        assert r["init_seed"] in ("0", "1")
    # scores differ between initialisation seeds
    s0 = [r["score"] for r in got if r["init_seed"] == "0" and r["proxy"] == "gradalign-i"]
    s1 = [r["score"] for r in got if r["init_seed"] == "1" and r["proxy"] == "gradalign-i"]
    assert s0 != s1


def test_cli_eval_table_and_errors(tmp_path, capsys):
    truth, _ = _truth_csv(tmp_path, n=4)
    rc = _cli(["--proxy", "gradalign-i", "--truth", str(truth), "--arch-col", "cell",
               "--acc-col", "top1", "--sample", "3"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "gradalign-i" in out.out and "kendall" in out.out and "3 of 4 archs" in out.out
    rc = _cli(["--proxy", "gradalign-i", "--truth", str(truth), "--acc-col", "top1"])
    assert rc == 2 and "no column 'arch'" in capsys.readouterr().err
    rc = _cli(["--proxy", "gradalign-i", "--truth", str(truth), "--arch-col", "cell",
               "--acc-col", "top1", "--all", "--sample", "3"])
    assert rc == 2 and "not both" in capsys.readouterr().err
    rc = _cli(["--proxy", "gradalgn-i", "--truth", str(truth)])
    assert rc == 2 and "Did you mean 'gradalign-i'" in capsys.readouterr().err


def test_package_evaluate_is_the_function_after_submodule_import():
    import nasx
    import nasx.evaluation as mod

    truth = [(a.text, toy_fitness(a.spec, 3)) for a in ToySpace().enumerate()]
    rep = nasx.evaluate("toy", "toy-oracle", truth, sample=5, data="synthetic", batch_size=10,
                        store=False, device="cpu")
    assert isinstance(rep, mod.EvalReport)
    assert rep.metrics["toy-oracle"]["kendall"] == pytest.approx(1.0)
