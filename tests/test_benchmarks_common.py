"""The benchmark scripts' shared module: the data root and results files with their command."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("bench_common", REPO / "benchmarks" / "common.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_shared_root_order(common, monkeypatch, tmp_path):
    monkeypatch.setenv("NASX_SHARED_DATA", str(tmp_path))
    assert common.shared_root() == tmp_path.resolve()
    assert common.shared_root(tmp_path / "x") == (tmp_path / "x").resolve()
    monkeypatch.delenv("NASX_SHARED_DATA")
    assert common.shared_root() == (REPO.parent / "shared" / "data").resolve()


def test_shared_file_exits_with_a_message(common, monkeypatch, tmp_path):
    monkeypatch.setenv("NASX_SHARED_DATA", str(tmp_path))
    with pytest.raises(SystemExit, match="NASX_SHARED_DATA"):
        common.shared_file("nasbench201", "accuracies.csv")


def test_write_results_records_command_and_environment(common, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", [str(REPO / "benchmarks" / "x.py"), "--n", "3"])
    out = common.write_results(tmp_path / "r.json", {"value": 1.5})
    doc = json.loads(out.read_text())
    assert doc["value"] == 1.5
    assert doc["command"] == "python benchmarks/x.py --n 3"
    assert {"python", "torch", "numpy", "cpu_count"} <= set(doc["environment"])
    assert not list(tmp_path.glob("*.tmp"))
