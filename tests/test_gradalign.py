"""GradAlign-I/II against a from-scratch computation of the paper's Equations 11-13."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nasx.errors import ProxyError
from nasx.proxies.base import ScoreContext, get_proxy
from nasx.proxies.gradalign import gradalign


class _Batch:
    def __init__(self, x, y, c):
        self.x, self.y, self.num_classes = x, y, c


def _ctx():
    return ScoreContext(device=torch.device("cpu"), seed=0, num_classes=3)


def _linear_per_sample(model: nn.Linear, x, y):
    """Analytic per-sample gradients of cross-entropy for a linear layer."""
    logits = x @ model.weight.T + model.bias
    p = torch.softmax(logits, 1)
    d = p - nn.functional.one_hot(y, logits.shape[1]).float()  # dL/dlogits
    gw = d[:, :, None] * x[:, None, :]
    return torch.cat([gw.reshape(len(x), -1), d], 1)


def _reference(flat, y):
    s_i, s_ii, k = 0.0, 0.0, 0
    for c in np.unique(y):
        g = flat[y == c].double()
        if len(g) < 2:
            continue
        s = torch.sign(g)
        mean_sign = torch.sign(g.mean(0))
        s_i += float((s @ mean_sign).sum().detach() / len(g))
        s_ii += float(torch.logdet(s @ s.T).detach())
        k += 1
    return s_i / k, s_ii / k


def test_matches_equations_on_linear_model():
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    x = torch.randn(10, 5)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    ref_i, ref_ii = _reference(_linear_per_sample(model, x, y), y.numpy())
    b = _Batch(x, y, 3)
    assert gradalign(model, b, _ctx(), "i") == pytest.approx(ref_i, rel=1e-9)
    assert gradalign(model, b, _ctx(), "ii") == pytest.approx(ref_ii, rel=1e-6)


def test_classes_with_one_sample_are_skipped():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x = torch.randn(5, 4)
    y = torch.tensor([0, 0, 0, 1, 2])  # classes 1 and 2 have a single sample
    flat = _linear_per_sample(model, x, y)
    ref_i, _ = _reference(flat, y.numpy())
    assert gradalign(model, _Batch(x, y, 3), _ctx(), "i") == pytest.approx(ref_i, rel=1e-9)


def test_all_classes_skipped_is_an_error():
    model = nn.Linear(4, 3)
    with pytest.raises(ProxyError, match="two or more samples"):
        gradalign(model, _Batch(torch.randn(3, 4), torch.tensor([0, 1, 2]), 3), _ctx(), "i")


def test_identical_samples_give_singular_gram():
    model = nn.Linear(4, 3)
    x = torch.randn(1, 4).repeat(3, 1)
    y = torch.zeros(3, dtype=torch.long)
    assert gradalign(model, _Batch(x, y, 3), _ctx(), "ii") == -math.inf
    # perfectly aligned: every sample agrees with the mean direction on every component
    assert gradalign(model, _Batch(x, y, 3), _ctx(), "i") == pytest.approx(4 * 3 + 3)


def test_shared_cache_between_variants():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    ctx = _ctx()
    b = _Batch(torch.randn(6, 4), torch.tensor([0, 0, 0, 1, 1, 1]), 2)
    gradalign(model, b, ctx, "i")
    assert any(k[0] == "gradalign.class_sign_stats" for k in ctx.cache)
    stats = ctx.cache[next(iter(ctx.cache))]
    stats[0]["align"] = 1e9  # the second variant must reuse the cached pass
    assert gradalign(model, b, ctx, "i") > 1e8


def test_metadata():
    for name in ("gradalign-i", "gradalign-ii"):
        spec = get_proxy(name)
        assert spec.higher_is_better is True
        assert "per-sample-grads" in spec.needs
        assert "GradAlign" in spec.paper
