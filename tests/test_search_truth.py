"""`nasx search --truth/--acc-col` and `nasx.evaluation.truth_report`: the true accuracy of the
returned architecture and of the top list, beside the scores."""

from __future__ import annotations

import csv
import json

import pytest

import nasx
import nasx.testing  # noqa: F401  (toy space + oracle)
from nasx.api import make_space
from nasx.cli.main import main
from nasx.errors import ConfigError, DataError
from nasx.evaluation import load_truth, truth_report

TOY = {"length": 3, "choices": 3}


def _truth_csv(path, *, skip=(), col="acc"):
    space = make_space("toy", **TOY)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", col])
        for a in space.enumerate():
            if a.text not in skip:
                w.writerow([a.text, space.fitness(a)])
                w.writerow([a.text, space.fitness(a) + 2.0])  # duplicate rows: mean (+1)
    return space


def test_truth_report_of_an_oracle_search(tmp_path, batch):
    space = _truth_csv(tmp_path / "t.csv")
    r = nasx.search(space="toy", proxy="toy-oracle", budget=27, data=batch, store=False,
                    space_opts=TOY, top_k=4)
    rep = truth_report(r, tmp_path / "t.csv", acc_col="acc")
    best = space.parse("2-2-2")
    assert str(r.best) == "2-2-2"
    assert rep.best_acc == pytest.approx(space.fitness(best) + 1.0)
    assert rep.best_rank == 1 and rep.optimum == rep.best_acc
    assert rep.optimum_arch == "2-2-2" and rep.n_truth == 27
    assert [a for a, _, _ in rep.top] == [a for a, _ in r.top]
    assert all(acc == pytest.approx(space.fitness(space.parse(a)) + 1.0)
               for a, _, acc in rep.top)
    assert rep.top_best_acc == rep.best_acc
    assert rep.to_dict()["top"][0]["accuracy"] == rep.best_acc


def test_truth_report_ranks_and_missing_archs(tmp_path, batch):
    space = _truth_csv(tmp_path / "t.csv", skip=("2-2-2",))
    r = nasx.search(space="toy", proxy="toy-oracle", budget=27, data=batch, store=False,
                    space_opts=TOY, top_k=3)
    rep = truth_report(r, load_truth(tmp_path / "t.csv", space, acc_col="acc"), space=space)
    assert rep.best_acc is None and rep.best_rank is None
    assert rep.top[0][2] is None and rep.top_best_acc is not None
    # in-memory pairs where the best is the 5th most accurate
    pairs = [(a.text, float(space.fitness(a))) for a in space.enumerate()]
    accs = sorted((acc for _, acc in pairs), reverse=True)
    rep = truth_report(r, pairs, space=space)
    assert rep.best_rank == 1 + sum(acc > rep.best_acc for acc in accs)
    with pytest.raises(DataError):
        truth_report(r, [], space=space)


def test_cli_reports_truth_in_json_and_text(tmp_path, capsys):
    _truth_csv(tmp_path / "t.csv")
    common = ["search", "--space", "toy", "--space-opt", "length=3", "--space-opt", "choices=3",
              "--proxy", "toy-oracle", "--budget", "27", "--no-store", "--data", "shape",
              "--truth", str(tmp_path / "t.csv"), "--acc-col", "acc", "--top-k", "3"]
    assert main(common + ["--json", "-q"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["best"] == "2-2-2" and out["truth"]["best_rank"] == 1
    assert out["truth"]["acc_col"] == "acc" and len(out["truth"]["top"]) == 3
    assert main(common) == 0
    cap = capsys.readouterr()
    assert cap.out.strip() == "2-2-2"
    assert "acc of the best:" in cap.err and "rank 1 of 27" in cap.err


def test_cli_checks_the_truth_file_before_scoring(tmp_path, capsys):
    _truth_csv(tmp_path / "t.csv")
    store = tmp_path / "s.sqlite"
    args = ["search", "--space", "toy", "--proxy", "toy-oracle", "--budget", "3",
            "--store", str(store), "--data", "shape", "--truth", str(tmp_path / "t.csv")]
    assert main(args + ["--acc-col", "nosuch"]) == 2
    assert "no column 'nosuch'" in capsys.readouterr().err
    assert not store.exists()
    assert main(args[:-1] + [str(tmp_path / "missing.csv"), "--acc-col", "acc"]) == 2
    assert "not found" in capsys.readouterr().err


def test_truth_errors_are_config_or_data_errors(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("arch,acc\n0-0-0,abc\n")
    space = make_space("toy", **TOY)
    with pytest.raises(DataError, match="not a number"):
        load_truth(p, space, acc_col="acc")
    with pytest.raises(ConfigError, match="no column"):
        load_truth(p, space, acc_col="accuracy")
