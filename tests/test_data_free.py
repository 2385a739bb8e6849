"""Data-free scoring: when no proxy (nor a constraint) needs images, nothing loads data and the
batch is shape-only (the space's input shape, a number of classes) with its own fingerprint."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

import nasx
from nasx import api, context
from nasx import data as D
from nasx.cli.main import main
from nasx.data import sources
from nasx.errors import DataError
from nasx.proxies.base import get_proxy

SPACE_OPTS = {"C": 8, "N": 1, "input_size": 8}
TINY = ["--space", "nasbench201", "--space-opt", "C=8", "--space-opt", "N=1",
        "--space-opt", "input_size=8", "--device", "cpu"]
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
DATA_FREE = ["params", "flops", "synflow", "zen"]


@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """Any attempt to load probe data fails the test; the cache folder is empty."""
    monkeypatch.setenv("NASX_CACHE_DIR", str(tmp_path / "empty-cache"))

    def forbidden(*a, **k):
        raise AssertionError(f"probe data loaded: {a!r}")

    monkeypatch.setattr(sources, "load_dataset", forbidden)
    monkeypatch.setattr(context, "load_dataset", forbidden)
    monkeypatch.setattr(sources, "load_embedded", forbidden)


def test_needs_images_rules():
    assert not D.needs_images([get_proxy(p) for p in DATA_FREE])
    for p in ("gradalign-i", "gradsign", "naswot", "snip", "grad-norm", "jacob-cov"):
        assert D.needs_images([get_proxy(p)]), p
    assert D.needs_images([get_proxy("params"), get_proxy("gradalign-i")])


def test_shape_batch_fingerprint_is_its_own():
    a = D.shape_batch((3, 8, 8), 10)
    assert tuple(a.x.shape) == (1, 3, 8, 8) and a.num_classes == 10 and a.source == "shape:10"
    assert D.shape_batch((3, 8, 8), 10).fingerprint == a.fingerprint
    assert D.shape_batch((3, 16, 16), 10).fingerprint != a.fingerprint
    assert D.shape_batch((3, 8, 8), 100).fingerprint != a.fingerprint
    real = D.draw_batch(D.load_embedded(), 16, 0, input_size=(8, 8))
    assert real.fingerprint != a.fingerprint
    with pytest.raises(DataError):
        D.shape_batch((3, 8, 8), 0)


def test_cli_search_params_needs_no_dataset(no_data, capsys):
    code = main(["search", "--space", "nasbench201", "--proxy", "params", "--budget", "3",
                 "--no-store", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    d = json.loads(out)
    assert d["evaluated"] == 3 and d["failed"] == 0 and d["score"] > 0
    assert d["settings"]["data"] == "shape:10"
    assert d["data_fingerprint"] == D.shape_batch((3, 32, 32), 10).fingerprint
    assert "probe set shipped" not in err  # no data note: no data used


def test_cli_search_max_params_only_needs_no_dataset(no_data, capsys):
    code = main(["search", *TINY, "--proxy", "flops", "--budget", "3", "--max-params", "1M",
                 "--no-store", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["evaluated"] == 3


@pytest.mark.parametrize("proxy", DATA_FREE)
def test_score_data_free_equals_real_batch(proxy, monkeypatch):
    """A shape-only batch gives the same value as a real batch for data-free proxies."""
    real = nasx.score(CELL, space="nasbench201", proxy=proxy, space_opts=SPACE_OPTS,
                      data=D.draw_batch(D.load_embedded(), 16, 0, input_size=(8, 8)),
                      device="cpu")
    free = nasx.score(CELL, space="nasbench201", proxy=proxy, space_opts=SPACE_OPTS,
                      device="cpu")
    assert real.ok and free.ok
    assert math.isclose(free.value, real.value, rel_tol=1e-9), (free.value, real.value)


def test_score_and_evaluate_load_nothing(no_data):
    res = nasx.score([CELL], space="nasbench201", proxy="params,flops,synflow,zen",
                     space_opts=SPACE_OPTS, device="cpu")
    assert all(r.ok for r in res)
    truth = [(CELL, 90.0),
             ("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|avg_pool_3x3~2|", 10.0),
             ("|nor_conv_1x1~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|", 50.0)]
    rep = nasx.evaluate("nasbench201", "params,synflow", truth, sample=None,
                        space_opts=SPACE_OPTS, device="cpu", store=False)
    assert rep.settings["data"] == "shape:10" and rep.settings["batch_size"] == 1
    assert np.isfinite(rep.metrics["params"]["kendall"])


def test_number_of_classes_settable(no_data):
    ten = nasx.score(CELL, space="nasbench201", proxy="params", space_opts=SPACE_OPTS,
                     device="cpu")
    hundred = nasx.score(CELL, space="nasbench201", proxy="params", space_opts=SPACE_OPTS,
                         data="shape:100", device="cpu")
    named = nasx.score(CELL, space="nasbench201", proxy="params", space_opts=SPACE_OPTS,
                       data="cifar100", device="cpu")  # known without loading anything
    assert hundred.value > ten.value and named.value == hundred.value


def test_explicit_source_gives_its_class_count(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (30, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "three.npz", x=x, y=np.arange(30) % 3)
    b = api.make_batch(str(tmp_path / "three.npz"), api.make_space("nasbench201", **SPACE_OPTS),
                       proxies=[get_proxy("params")])
    assert b.num_classes == 3 and b.source == "shape:3"


def test_input_shape_from_space_options(no_data):
    small = api.make_batch(None, api.make_space("nasbench201", **SPACE_OPTS),
                           proxies=[get_proxy("flops")])
    big = api.make_batch(None, api.make_space("nasbench201"), proxies=[get_proxy("flops")])
    assert tuple(small.x.shape[1:]) == (3, 8, 8) and tuple(big.x.shape[1:]) == (3, 32, 32)
    assert small.fingerprint != big.fingerprint


def test_shape_spec_refused_for_image_proxies(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NASX_CACHE_DIR", str(tmp_path))
    code = main(["score", *TINY, "--proxy", "gradalign-i", "--data", "shape", "--no-store",
                 CELL])
    _, err = capsys.readouterr()
    assert code == 2 and "shape-only" in err and "Traceback" not in err
    with pytest.raises(DataError, match="shape"):
        D.parse_shape_spec("shape:x")


def test_user_proxy_with_default_needs_gets_images(monkeypatch):
    """A proxy registered without ``needs`` is assumed to need images."""
    from nasx.proxies.base import register_proxy

    seen = []

    def probe_size(model, batch, ctx):
        seen.append(len(batch))
        return float(len(batch))

    from nasx.registry import proxies

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        register_proxy("test-batch-size-probe", higher_is_better=True, paper="test",
                       replace=True)(probe_size)
    try:
        r = nasx.score(CELL, space="nasbench201", proxy="test-batch-size-probe",
                       space_opts=SPACE_OPTS, batch_size=12, device="cpu")
    finally:
        proxies.remove("test-batch-size-probe")
    assert r.ok and seen == [12]
