"""Proxies get the probe batch as their own copy: one that writes into ``batch.x`` / ``batch.y``
changes neither the next proxy's input nor the caller's batch."""

from __future__ import annotations

import torch

import nasx
import nasx.testing  # noqa: F401  (registers the toy space)
from nasx.registry import proxies
from nasx.scoring import OK, Scorer
from nasx.testing import ToySpace


def test_a_proxy_writing_into_its_batch_changes_no_other_input(batch):
    @nasx.register_proxy("t-vandal", higher_is_better=True, needs=("data", "labels"),
                         replace=True)
    def vandal(model, b, ctx):
        b.x.mul_(0.0).add_(7.0)
        b.y.fill_(0)
        b.x.requires_grad_(True)
        return 1.0

    @nasx.register_proxy("t-reader", higher_is_better=True, needs=("data", "labels"),
                         replace=True)
    def reader(model, b, ctx):
        return model(b.x).sum().item() + b.y.float().var().item() + float(b.x.requires_grad)

    try:
        x0, y0 = batch.x.clone(), batch.y.clone()
        space = ToySpace()
        arch = space.parse("0-1-2-0")
        alone = Scorer(space, batch, device="cpu", seed=0).score_many(
            arch, ["t-reader", "gradalign-i"])
        after = Scorer(space, batch, device="cpu", seed=0).score_many(
            arch, ["t-vandal", "t-reader", "gradalign-i", "t-vandal", "t-reader"])
        assert all(r.status == OK for r in alone + after)
        assert [r.value for r in after[1:3]] == [r.value for r in alone]
        assert after[4].value == alone[0].value
        assert torch.equal(batch.x, x0) and torch.equal(batch.y, y0)
        assert not batch.x.requires_grad
    finally:
        proxies.remove("t-vandal")
        proxies.remove("t-reader")
