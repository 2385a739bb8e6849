"""nasx.plot: scatter plots of eval reports, linear-region drawings, and the missing-extra
message."""

from __future__ import annotations

import builtins
import sys

import pytest

import nasx.testing  # noqa: F401  (registers the toy space and the toy-oracle proxy)
from nasx import evaluate
from nasx.errors import ConfigError, NasxError
from nasx.testing.toy import ToySpace, toy_fitness

PNG = b"\x89PNG\r\n\x1a\n"


def _report():
    truth = [(a.text, toy_fitness(a.spec, 3)) for a in ToySpace().enumerate()]
    return evaluate("toy", "toy-oracle", truth, sample=20, data="synthetic", batch_size=10,
                    store=False, device="cpu")


@pytest.mark.filterwarnings("ignore:synthetic probe data")
def test_plot_eval_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from nasx.plot import plot_eval

    out = tmp_path / "scatter.png"
    assert plot_eval(_report(), out) == str(out)
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 2000
    with pytest.raises(ConfigError):
        plot_eval(_report(), tmp_path / "x.png", proxies=["nope"])


def test_plot_linear_regions_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from nasx.linear_regions import linear_region_polygons
    from nasx.plot import plot_linear_regions

    a = linear_region_polygons([[[1.0, 0.0], [0.0, 1.0]]], [[0.0, 0.0]], box=1.0)
    b = linear_region_polygons([[[1.0, 0.0]]], [[0.0]], box=1.0)
    out = tmp_path / "regions.png"
    plot_linear_regions([a, b], out, box=1.0)
    assert out.read_bytes().startswith(PNG)


def _hide_matplotlib(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


@pytest.mark.filterwarnings("ignore:synthetic probe data")
def test_missing_matplotlib_is_a_clear_error(monkeypatch, tmp_path):
    report = _report()
    _hide_matplotlib(monkeypatch)
    from nasx.plot import plot_eval, require_matplotlib

    with pytest.raises(NasxError, match=r"pip install 'nasx\[plot\]'"):
        require_matplotlib()
    with pytest.raises(NasxError, match="matplotlib"):
        plot_eval(report, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_cli_plot_without_matplotlib_fails_before_scoring(monkeypatch, tmp_path, capsys):
    from nasx.cli.main import main

    truth = tmp_path / "t.csv"
    truth.write_text("arch,accuracy\n0-0-0-0,1\n1-1-1-1,2\n", encoding="utf-8")
    _hide_matplotlib(monkeypatch)
    rc = main(["eval", "--space", "toy", "--proxy", "toy-oracle", "--truth", str(truth),
               "--data", "synthetic", "--no-store", "--quiet", "--plot",
               str(tmp_path / "p.png")])
    assert rc == 2
    assert "nasx[plot]" in capsys.readouterr().err
