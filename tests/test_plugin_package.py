"""The example plugin package, installed for real, appears in `nasx list` and works in search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "plugin-package"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--target", str(target), str(PLUGIN)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot build the example plugin here: {proc.stderr[-500:]}")
    return target


def _nasx(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "nasx", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_plugin_is_listed_and_searchable(plugin_site):
    p = _nasx(plugin_site, "list", "proxies", "weight*", "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r["name"] for r in rows] == ["weight-sign-balance"]
    assert rows[0]["source"] == "plugin nasx-example-plugin"
    p = _nasx(plugin_site, "search", "--space", "nasbench201", "--space-opt", "C=8",
              "--space-opt", "N=1", "--space-opt", "input_size=8", "--data", "synthetic",
              "--batch-size", "16", "--proxy", "weight-sign-balance", "--budget", "3",
              "--no-store", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["proxy"] == "weight-sign-balance" and d["evaluated"] == 3
    p = _nasx(plugin_site, "list", "--plugins", "--json")
    st = [s for s in json.loads(p.stdout) if s["name"] == "example"]
    assert st and st[0]["ok"] and st[0]["distribution"] == "nasx-example-plugin"
