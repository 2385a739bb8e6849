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
    # every class singular: a recorded failure, never a number
    with pytest.raises(ProxyError, match="singular in all 1 classes"):
        gradalign(model, _Batch(x, y, 3), _ctx(), "ii")
    # perfectly aligned: every sample agrees with the mean direction on every component
    assert gradalign(model, _Batch(x, y, 3), _ctx(), "i") == pytest.approx(4 * 3 + 3)
    # ... on every one of the 15 components that receive gradient
    assert gradalign(model, _Batch(x, y, 3), _ctx(), "i-frac") == pytest.approx(1.0)


def test_singular_classes_are_left_out_and_counted():
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    x = torch.cat([torch.randn(1, 5).repeat(3, 1), torch.randn(4, 5)])
    y = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    ctx = _ctx()
    value = gradalign(model, _Batch(x, y, 3), ctx, "ii")
    flat = _linear_per_sample(model, x, y)
    s = torch.sign(flat[3:].detach().double())
    assert value == pytest.approx(float(torch.logdet(s @ s.T)), rel=1e-9)  # class 1 only
    assert ctx.notes["gradalign.singular_classes"] == 1


def test_size_free_variants_match_their_definitions():
    torch.manual_seed(1)
    model = nn.Linear(5, 3)
    x = torch.randn(8, 5)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    flat = _linear_per_sample(model, x, y).detach().double()
    frac, norm = [], []
    for c in (0, 1):
        g = flat[y == c]
        s, m = torch.sign(g), torch.sign(g.sum(0))
        nnz = float((m != 0).sum())
        frac.append(float((s @ m).sum()) / (len(g) * nnz))
        norm.append(float(torch.logdet(s @ s.T)) - len(g) * math.log(nnz))
    b = _Batch(x, y, 3)
    assert gradalign(model, b, _ctx(), "i-frac") == pytest.approx(np.mean(frac), rel=1e-9)
    assert gradalign(model, b, _ctx(), "ii-norm") == pytest.approx(np.mean(norm), rel=1e-9)


def test_shared_cache_between_variants():
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    ctx = _ctx()
    b = _Batch(torch.randn(6, 4), torch.tensor([0, 0, 0, 1, 1, 1]), 2)
    gradalign(model, b, ctx, "i")
    assert "gradalign.class_sign_stats" in ctx.cache
    stats = ctx.cache["gradalign.class_sign_stats"]
    stats[0]["align"] = 1e9  # the second variant must reuse the cached pass
    assert gradalign(model, b, ctx, "i") > 1e8


def test_metadata():
    for name in ("gradalign-i", "gradalign-ii"):
        spec = get_proxy(name)
        assert spec.higher_is_better is True
        assert "per-sample-grads" in spec.needs
        assert "GradAlign" in spec.paper
