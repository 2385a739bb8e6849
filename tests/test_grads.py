"""Per-sample gradients: vmap over grad equals an explicit batch-of-one loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasx.grads import loop_per_sample_grads, per_sample_bn, per_sample_grads
from nasx.proxies.base import ScoreContext
from nasx.proxies.gradalign import gradalign
from nasx.spaces.nasbench201 import NASBench201

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


@pytest.fixture(scope="module")
def setup():
    space = NASBench201(C=8, N=1, input_size=8)
    torch.manual_seed(0)
    model = space.build(space.parse(ARCH), 4)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(12, 3, 8, 8, generator=g)
    y = torch.arange(12) % 4
    return model, x, y


def test_vmap_matches_loop(setup):
    model, x, y = setup
    a = per_sample_grads(model, x, y)
    b = loop_per_sample_grads(model, x, y)
    assert a.keys() == b.keys()
    total = agree = 0
    for k in a:
        assert a[k].shape == b[k].shape
        scale = b[k].abs().max().item() + 1e-12
        assert (a[k] - b[k]).abs().max().item() <= 1e-3 * scale + 1e-7, k
        big = b[k].abs() > 1e-6 * scale
        agree += (torch.sign(a[k]) == torch.sign(b[k]))[big].sum().item()
        total += big.sum().item()
    assert agree / total >= 0.99


def test_chunking_does_not_change_result(setup):
    model, x, y = setup
    a = per_sample_grads(model, x, y)
    b = per_sample_grads(model, x, y, chunk_size=5)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)


def test_bn_state_restored(setup):
    model, x, y = setup
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    rm = bn.running_mean.clone()
    model.eval()
    per_sample_grads(model, x, y)
    assert not model.training and bn.running_mean is not None
    assert torch.equal(bn.running_mean, rm)  # not updated
    with per_sample_bn(model):
        assert model.training and bn.running_mean is None
    assert bn.track_running_stats


def _gradalign_from(grads: dict, y: torch.Tensor) -> tuple[float, float]:
    flat = torch.cat([g.reshape(g.shape[0], -1) for g in grads.values()], 1).double()
    s1 = s2 = 0.0
    classes = 0
    for c in torch.unique(y):
        g = flat[y == c]
        if len(g) < 2:
            continue
        s = torch.sign(g)
        s1 += (s @ torch.sign(g.sum(0))).mean().item()
        s2 += torch.linalg.slogdet(s @ s.T)[1].item()
        classes += 1
    return s1 / classes, s2 / classes


def test_gradalign_scores_match_loop_reference(setup):
    """GradAlign from torch.func equals GradAlign from the batch-of-one loop (1e-3 relative)."""
    model, x, y = setup
    ref_i, ref_ii = _gradalign_from(loop_per_sample_grads(model, x, y), y)

    class B:
        pass

    b = B()
    b.x, b.y, b.num_classes = x, y, 4
    ctx = ScoreContext(device=torch.device("cpu"), seed=0, num_classes=4)
    got_i = gradalign(model, b, ctx, "i")
    got_ii = gradalign(model, b, ctx, "ii")
    assert got_i == pytest.approx(ref_i, rel=1e-3)
    assert got_ii == pytest.approx(ref_ii, rel=1e-3)
    assert np.isfinite(got_ii)
