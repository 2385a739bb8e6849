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


class _ConvNet(nn.Module):
    def __init__(self, bias: bool = True):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=bias), nn.BatchNorm2d(6),
                                  nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1, bias=bias),
                                  nn.BatchNorm2d(6), nn.ReLU())
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


#: float32 unit roundoff and the noise floor of a per-sample gradient component: a component
#: computed as a float32 sum of K terms carries a rounding error of order sqrt(K) * eps times the
#: magnitude of the terms; with K bounded by the parameter count P, a component no larger than
#: sqrt(P) * eps * max_j |g_ij| is indistinguishable from zero (its sign is the rounding's).
EPS32 = torch.finfo(torch.float32).eps


def _per_sample(net, x, y):
    from nasx.grads import stream_per_sample_grads

    parts = []
    stream_per_sample_grads(net, x, y, lambda k, g: parts.append(g.detach().clone()))
    return torch.cat(parts, 1)


def _noise_components(g: torch.Tensor) -> int:
    """Components at the float32 noise floor in some sample (see ``EPS32``)."""
    floor = math.sqrt(g.shape[1]) * EPS32 * g.abs().amax(1, keepdim=True)
    return int((g.abs() <= floor).any(0).sum())


@pytest.mark.parametrize("bias", [False, True])
def test_passes_sized_to_the_activation_budget_change_no_value(monkeypatch, bias):
    """Cutting the batch into passes changes the kernels' batch size, hence the float32
    summation order: the per-sample gradients agree to float32 rounding, and the sign counts
    agree exactly unless a component sits at the rounding noise floor. A conv bias followed by
    BatchNorm has an analytically zero gradient (the normalisation removes it), computed as
    rounding noise of either sign: each such component can move GradAlign-I by at most 2
    (per class, sum_i s_ij m_j / N_c lies in [-1, 1]); without biases there is none, and the
    values are equal."""
    from nasx.grads import per_sample_activation_bytes
    from nasx.proxies import gradalign as mod

    torch.manual_seed(2)
    net = _ConvNet(bias=bias)
    x = torch.randn(12, 3, 6, 6)
    y = torch.tensor([0, 1, 2] * 4)
    batch = _Batch(x, y, 3)
    per = per_sample_activation_bytes(net, x)
    assert per > 0
    assert mod._pass_size(net, batch, _ctx()) is None  # the whole batch fits: one pass
    shared = _ctx()  # one context: the two variants share one computation
    whole = [gradalign(net, batch, shared, v) for v in ("i", "ii")]

    # the gradients themselves: equal to float32 rounding (sqrt(P) * eps of the largest entry)
    order = torch.argsort(y, stable=True)
    g_whole = _per_sample(net, x[order], y[order])
    g_cut = torch.cat([_per_sample(net, x[order[i:i + 4]], y[order[i:i + 4]])
                       for i in (0, 4, 8)])
    p = g_whole.shape[1]
    torch.testing.assert_close(g_cut, g_whole, rtol=0.0,
                               atol=math.sqrt(p) * EPS32 * float(g_whole.abs().max()))
    noise = _noise_components(g_whole)
    assert noise == (12 if bias else 0)  # exactly the two convs' 6 + 6 bias entries

    calls = []
    real = mod.stream_per_sample_grads

    def counting(model, xs, ys, *a, **k):
        calls.append(int(xs.shape[0]))
        return real(model, xs, ys, *a, **k)

    monkeypatch.setattr(mod, "stream_per_sample_grads", counting)
    # a budget of 5 samples' activations: 12 samples need 3 passes of 4 (balanced)
    monkeypatch.setattr(mod, "default_activation_budget", lambda device: 5 * per)
    assert mod._pass_size(net, batch, _ctx()) == 4
    shared = _ctx()
    cut = [gradalign(net, batch, shared, v) for v in ("i", "ii")]
    assert calls == [4, 4, 4]  # whole classes: 4 samples each
    if noise == 0:
        assert cut == whole  # the same sign matrices: the same integers, the same log-dets
    else:
        assert abs(cut[0] - whole[0]) <= 2 * noise
    # an explicit chunk size wins over the budget
    ctx = _ctx()
    ctx.chunk_size = 8
    assert mod._pass_size(net, batch, ctx) == 8


def test_per_sample_batchnorm_forward_is_each_sample_alone():
    from nasx.grads import _instance_bn_forward

    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.uniform_(-1.0, 1.0)
    bn.train()
    x = torch.randn(5, 4, 3, 3)
    together = _instance_bn_forward(bn, x)
    alone = torch.cat([nn.functional.batch_norm(x[i:i + 1], None, None, bn.weight, bn.bias,
                                                training=True, eps=bn.eps) for i in range(5)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
