"""The command line, driven through its entry function."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from nasx.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_subprocess import CELL, TINY, run  # noqa: E402


def test_search_json(capsys, tmp_path):
    store = str(tmp_path / "s.sqlite")
    code, out, err = run(capsys, "search", *TINY, "--proxy", "gradalign-i", "--budget", "4",
                         "--seed", "0", "--store", store, "--json")
    assert code == 0, err
    d = json.loads(out)
    for key in ("best", "score", "proxy", "space", "strategy", "seed", "evaluated", "cached",
                "failed", "seconds", "data_fingerprint", "top"):
        assert key in d
    assert d["evaluated"] == 4 and d["cached"] == 0 and d["proxy"] == "gradalign-i"
    assert d["best"] == d["top"][0]["arch"] and d["score"] == d["top"][0]["score"]
    assert all(d["top"][i]["score"] >= d["top"][i + 1]["score"] for i in range(len(d["top"]) - 1))
    # the same command again: everything comes from the store, same answer
    code, out2, _ = run(capsys, "search", *TINY, "--proxy", "gradalign-i", "--budget", "4",
                        "--seed", "0", "--store", store, "--json")
    d2 = json.loads(out2)
    assert d2["cached"] == 4 and d2["best"] == d["best"] and d2["score"] == d["score"]


def test_search_plain_prints_best_arch(capsys):
    code, out, err = run(capsys, "search", *TINY, "--budget", "2", "--no-store")
    assert code == 0, err
    assert out.strip().startswith("|") and out.strip().count("+") == 2
    assert "synthetic" in err  # the noise warning reaches the user


def test_score_json(capsys):
    code, out, err = run(capsys, "score", *TINY, "--proxy", "gradalign-i,gradalign-ii",
                         "--json", CELL)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["proxy"] for r in rows] == ["gradalign-i", "gradalign-ii"]
    for r in rows:
        assert set(r) >= {"arch", "proxy", "score", "status", "error", "seconds", "cached"}
        assert r["status"] == "ok" and isinstance(r["score"], float) and r["arch"] == CELL


def test_unknown_proxy_did_you_mean(capsys):
    code, out, err = run(capsys, "score", *TINY, "--proxy", "gradalgn-i", CELL)
    assert code == 2 and "Did you mean 'gradalign-i'" in err and out == ""


def test_bad_arch_is_a_clear_error(capsys):
    code, _, err = run(capsys, "score", *TINY, "|nor_conv_3x3~0|")
    assert code == 2 and "nasx: error:" in err


def test_bad_space_option(capsys):
    code, _, err = run(capsys, "search", "--space-opt", "Q=1", "--data", "synthetic",
                       "--budget", "1", "--no-store")
    assert code == 2 and "unknown option 'Q'" in err


def test_list(capsys):
    code, out, _ = run(capsys, "list", "proxies", "gradalign*", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == [
        "gradalign-i", "gradalign-i-frac", "gradalign-ii", "gradalign-ii-norm"]
    assert rows[0]["higher_is_better"] is True and rows[0]["source"] == "nasx"
    code, out, _ = run(capsys, "list", "spaces")
    assert code == 0 and "nasbench201" in out
    code, out, _ = run(capsys, "list", "--plugins", "--json")
    assert code == 0 and isinstance(json.loads(out), list)


def test_config_file(capsys, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "space: nasbench201\nspace-opt: {C: 8, N: 1, input_size: 8}\ndata: synthetic\n"
        "batch-size: 16\nbudget: 3\nno-store: true\njson: true\nseed: 5\n")
    code, out, err = run(capsys, "search", "--config", str(cfg))
    assert code == 0, err
    d = json.loads(out)
    assert d["evaluated"] == 3 and d["seed"] == 5
    # a flag on the command line wins over the file
    code, out, _ = run(capsys, "search", "--config", str(cfg), "--budget", "2")
    assert json.loads(out)["evaluated"] == 2


def test_config_unknown_key(capsys, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("budgett: 3\n")
    code, _, err = run(capsys, "search", "--config", str(cfg))
    assert code == 2 and "unknown key 'budgett'" in err


def test_help_documents_every_command(capsys):
    for cmd in ("search", "score", "eval", "list"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "Example" in out or "example" in out
