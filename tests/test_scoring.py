from __future__ import annotations

import math

import pytest
import torch

import nasx.testing  # noqa: F401  (registers the toy space)
from nasx.errors import ConfigError
from nasx.proxies.base import register_proxy
from nasx.registry import proxies
from nasx.scoring import FAILED, NONFINITE, OK, Scorer, resolve_device
from nasx.testing import ToySpace


@pytest.fixture(scope="module")
def bad_proxies():
    def boom(model, batch, ctx):
        raise RuntimeError("kaput")

    def nan(model, batch, ctx):
        return float("nan")

    def text(model, batch, ctx):
        return "seven"

    def first_weight(model, batch, ctx):
        w = next(model.parameters())
        val = float(w.detach().flatten()[0])
        with torch.no_grad():
            w.mul_(100.0)  # a proxy may change weights: the next one must not see it
        return val

    for n, f in (("t-boom", boom), ("t-nan", nan), ("t-text", text), ("t-w0", first_weight)):
        register_proxy(n, higher_is_better=True, needs=("none",), replace=True)(f)
    yield
    for n in ("t-boom", "t-nan", "t-text", "t-w0"):
        proxies.remove(n)


def test_failures_are_recorded(batch, bad_proxies):
    space = ToySpace()
    sc = Scorer(space, batch, device="cpu", seed=0)
    a = space.parse("0-1-2-0")
    r_boom, r_nan, r_text, r_ok = sc.score_many(a, ["t-boom", "t-nan", "t-text", "gradalign-i"])
    assert r_boom.status == FAILED and "kaput" in r_boom.error and r_boom.value is None
    assert r_nan.status == NONFINITE and r_nan.oriented() == -math.inf
    assert r_text.status == FAILED and "not a number" in r_text.error
    assert r_ok.status == OK and math.isfinite(r_ok.value)


def test_proxies_start_from_the_same_weights(batch, bad_proxies):
    space = ToySpace()
    sc = Scorer(space, batch, device="cpu", seed=3)
    a = space.parse("1-1-1-1")
    r1, r2 = sc.score_many(a, ["t-w0", "t-w0"])
    assert r1.value == r2.value


def test_deterministic_per_seed_and_rng_untouched(batch):
    space = ToySpace()
    a = space.parse("2-0-1-2")
    torch.manual_seed(1234)
    before = torch.rand(3)
    torch.manual_seed(1234)
    v1 = Scorer(space, batch, device="cpu", seed=7).score(a, "gradalign-ii").value
    after = torch.rand(3)
    assert torch.equal(before, after), "scoring must not consume the global RNG"
    v2 = Scorer(space, batch, device="cpu", seed=7).score(a, "gradalign-ii").value
    v3 = Scorer(space, batch, device="cpu", seed=8).score(a, "gradalign-ii").value
    assert v1 == v2
    assert v1 != v3


def test_build_failure_is_recorded(batch):
    class Broken(ToySpace):
        def build(self, arch, num_classes):
            raise ValueError("cannot build")

    r = Scorer(Broken(), batch, device="cpu").score(Broken().parse("0-0-0-0"), "gradalign-i")
    assert r.status == FAILED and "build" in r.error


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_oom_is_retried_with_smaller_chunks(batch):
    seen = []

    def hungry(model, batch, ctx):
        seen.append(ctx.chunk_size)
        if ctx.chunk_size is None or ctx.chunk_size > 4:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return float(ctx.chunk_size)

    def always(model, batch, ctx):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    register_proxy("t-hungry", higher_is_better=True, needs=("none",), replace=True)(hungry)
    register_proxy("t-always-oom", higher_is_better=True, needs=("none",), replace=True)(always)
    try:
        space = ToySpace()
        a = space.parse("0-0-0-0")
        r = Scorer(space, batch, device="cpu").score(a, "t-hungry")
        assert r.ok and r.value == 4.0 and seen == [None, 8, 4]
        r = Scorer(space, batch, device="cpu").score(a, "t-always-oom")
        assert r.status == "oom" and "out of memory" in r.error
    finally:
        proxies.remove("t-hungry")
        proxies.remove("t-always-oom")
