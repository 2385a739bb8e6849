"""Store keys hold everything that can change a score.

``test_every_score_changing_option_changes_the_key`` enumerates the options that change a value
(space and its options, architecture, proxy name, options and version, the probe batch, the
initialisation seed, the device kind, the batch split of split-sensitive proxies, the scorer's
version and further scoring-route options) and checks that each one alone changes the key.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest
import torch

import nasx  # noqa: F401
from nasx.api import ScoreService, make_space
from nasx.data import draw_batch, synthetic_dataset
from nasx.proxies.base import get_proxy, register_proxy
from nasx.registry import proxies
from nasx.scoring import Scorer, key_options

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
OTHER = "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
SENSITIVE = ("grad-norm", "snip", "fisher", "grasp", "jacob-cov")
INVARIANT = ("gradalign-i", "gradalign-ii", "gradsign", "ntk", "naswot", "synflow", "zen",
             "params", "flops", "linear-regions")


def _batch(seed=0, size=16, classes=4, px=8, input_size=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = synthetic_dataset(num_classes=classes, n_per_class=8, size=px)
    return draw_batch(ds, size, seed, input_size=input_size)


@pytest.fixture(scope="module")
def demo_proxy():
    def demo(model, batch, ctx, scale=1.0):
        return scale

    register_proxy("t-key-demo", higher_is_better=True, needs=("none",), replace=True)(demo)
    yield get_proxy("t-key-demo")
    proxies.remove("t-key-demo")


def _key(*, space="nasbench201", space_opts=None, arch=CELL, proxy="grad-norm", batch=None,
         seed=0, device=None, chunk_size=None, scoring_opts=None):
    sp = make_space(space, **(space_opts if space_opts is not None
                              else {"C": 8, "N": 1, "input_size": 8}))
    spec = get_proxy(proxy)
    svc = ScoreService(sp, [spec], batch or _batch(), device="cpu", seed=seed,
                       chunk_size=chunk_size, scoring_opts=scoring_opts)
    if device is not None:
        svc.device = torch.device(device)  # a kind this machine may not have
        svc.device_kind = svc.device.type
    return svc.key(sp.parse(arch), spec)


def test_every_score_changing_option_changes_the_key(demo_proxy):
    base = _key()
    variants = {
        "space option C": _key(space_opts={"C": 16, "N": 1, "input_size": 8}),
        "space option N": _key(space_opts={"C": 8, "N": 2, "input_size": 8}),
        "space option input_size": _key(space_opts={"C": 8, "N": 1, "input_size": 16}),
        "architecture": _key(arch=OTHER),
        "proxy name": _key(proxy="snip"),
        "probe batch seed": _key(batch=_batch(seed=1)),
        "probe batch size": _key(batch=_batch(size=12)),
        "probe classes": _key(batch=_batch(classes=2)),
        "probe resolution": _key(batch=_batch(px=16, input_size=8)),
        "initialisation seed": _key(seed=1),
        "device kind": _key(device="cuda"),
        "batch split": _key(chunk_size=4),
        "scoring route option": _key(scoring_opts={"grad_method": "vmap"}),
    }
    for what, key in variants.items():
        assert key != base, f"{what} does not change the key"
    assert len({*variants.values(), base}) == len(variants) + 1

    # proxy options and version: two registrations of one function
    sp = make_space("nasbench201", C=8, N=1, input_size=8)
    a = sp.parse(CELL)
    b = _batch()
    specs = [demo_proxy, replace(demo_proxy, options={"scale": 2.0}),
             replace(demo_proxy, version="2")]
    keys = {ScoreService(sp, [s], b, device="cpu").key(a, s) for s in specs}
    assert len(keys) == 3

    # the scorer's own version
    from nasx import scoring

    before = key_options(get_proxy("params"))
    old = scoring.SCORER_VERSION
    try:
        scoring.SCORER_VERSION = old + "-next"
        assert key_options(get_proxy("params")) != before
    finally:
        scoring.SCORER_VERSION = old


def test_default_valued_route_options_keep_keys():
    """An option left at its default (None) does not change existing keys."""
    assert _key(scoring_opts={"grad_method": None}) == _key()


@pytest.mark.parametrize("name", SENSITIVE)
def test_split_sensitive_proxies_record_the_split_and_it_changes_their_value(name):
    spec = get_proxy(name)
    assert spec.split_sensitive
    assert _key(proxy=name, chunk_size=4) != _key(proxy=name)
    assert _key(proxy=name, chunk_size=4) != _key(proxy=name, chunk_size=8)
    sp = make_space("nasbench201", C=8, N=1, input_size=8)
    a = sp.parse(CELL)
    full = Scorer(sp, _batch(), device="cpu").score(a, name)
    split = Scorer(sp, _batch(), device="cpu", chunk_size=4).score(a, name)
    assert full.ok and split.ok
    assert split.value != pytest.approx(full.value, rel=1e-6)  # why the split is in the key


@pytest.mark.parametrize("name", INVARIANT)
def test_split_invariant_proxies_share_scores_across_chunk_sizes(name):
    assert not get_proxy(name).split_sensitive
    assert _key(proxy=name, chunk_size=4) == _key(proxy=name)


@pytest.mark.parametrize("name", ["gradalign-i", "gradsign"])
def test_chunking_does_not_change_per_sample_gradient_proxies(name):
    sp = make_space("nasbench201", C=8, N=1, input_size=8)
    a = sp.parse(CELL)
    full = Scorer(sp, _batch(), device="cpu").score(a, name)
    split = Scorer(sp, _batch(), device="cpu", chunk_size=3).score(a, name)
    assert full.ok and split.value == pytest.approx(full.value, rel=1e-3)


def test_user_proxies_are_split_sensitive_unless_declared(demo_proxy):
    assert demo_proxy.split_sensitive
    register_proxy("t-key-inv", higher_is_better=True, needs=("none",), replace=True,
                   batch_split="invariant")(lambda model, batch, ctx: 1.0)
    try:
        assert not get_proxy("t-key-inv").split_sensitive
    finally:
        proxies.remove("t-key-inv")
    from nasx.errors import RegistrationError

    with pytest.raises(RegistrationError, match="batch_split"):
        register_proxy("t-key-bad", higher_is_better=True, batch_split="maybe")
