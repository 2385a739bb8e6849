"""The training extras of the DARTS-style networks: auxiliary logits and drop-path."""

from __future__ import annotations

import torch

from nasx.spaces._cell_ops import drop_path
from nasx.spaces.darts import DARTS_V2, DartsSpace


def _net(**opts):
    space = DartsSpace(C=4, layers=3, **opts)
    torch.manual_seed(0)
    return space.build(space.parse(DARTS_V2), 10)


def test_defaults_unchanged_and_auxiliary_logits_in_training_only():
    net = _net()
    assert net.drop_path_prob == 0.0 and not hasattr(net, "auxiliary_head")
    x = torch.randn(4, 3, 32, 32)
    net.train()
    logits, aux = net.nasx_forward_train(x)
    assert aux is None and torch.equal(logits, net(x))
    with_aux = _net(auxiliary=True).train()
    logits, aux = with_aux.nasx_forward_train(x)
    assert logits.shape == aux.shape == (4, 10)
    with_aux.eval()
    assert with_aux.nasx_forward_train(x)[1] is None


def test_drop_path_acts_in_training_mode_only():
    net = _net()
    x = torch.randn(4, 3, 32, 32)
    net.eval()
    ref = net(x)
    net.drop_path_prob = 0.5
    assert torch.equal(net(x), ref)  # eval mode: no drop-path
    net.train()
    net.drop_path_prob = 0.0
    torch.manual_seed(1)
    plain = net(x)
    net.drop_path_prob = 0.5
    torch.manual_seed(1)
    dropped = net(x)
    assert not torch.allclose(plain, dropped)
    torch.manual_seed(1)
    assert torch.equal(net(x), dropped)  # masks from torch's seeded generator


def test_drop_path_zeroes_or_scales_whole_samples():
    torch.manual_seed(0)
    x = torch.rand(64, 2, 3, 3) + 0.1
    y = drop_path(x, 0.25)
    for i in range(64):
        assert torch.equal(y[i], torch.zeros_like(y[i])) or torch.allclose(y[i], x[i] / 0.75)
    kept = sum(bool(y[i].any()) for i in range(64))
    assert 30 < kept < 64
