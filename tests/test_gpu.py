"""GPU checks (run with `pytest -m gpu` on a machine with CUDA)."""

from __future__ import annotations

import pytest
import torch
from conftest import shared_data

from nasx.api import make_batch, make_space
from nasx.scoring import Scorer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
]


def test_gradalign_gpu_matches_cpu():
    space = make_space("nasbench201")
    batch = make_batch(str(shared_data("cifar10", "probe_train.npz")), space, batch_size=64)
    for cell in CELLS:
        a = space.parse(cell)
        cpu = Scorer(space, batch, device="cpu", seed=0).score_many(a, ["gradalign-i",
                                                                        "gradalign-ii"])
        gpu = Scorer(space, batch, device="cuda", seed=0).score_many(a, ["gradalign-i",
                                                                         "gradalign-ii"])
        # TF32 is off by default for convolutions' numerics in nasx? signs of tiny gradients can
        # flip between devices; the scores must agree closely
        for c, g in zip(cpu, gpu):
            assert c.ok and g.ok
            assert g.value == pytest.approx(c.value, rel=2e-2), (cell, c.proxy)


def test_chunked_gpu_equals_unchunked():
    space = make_space("nasbench201")
    batch = make_batch(str(shared_data("cifar10", "probe_train.npz")), space, batch_size=64)
    a = space.parse(CELLS[0])
    full = Scorer(space, batch, device="cuda", seed=0).score(a, "gradalign-i").value
    chunked = Scorer(space, batch, device="cuda", seed=0, chunk_size=2).score(a, "gradalign-i")
    assert chunked.value == pytest.approx(full, rel=1e-3)


def test_ntk_batched_backward_on_gpu_equals_cpu_loop():
    from nasx.proxies.tenas import ntk_matrix

    space = make_space("nasbench201", C=8, N=1)
    torch.manual_seed(0)
    model = space.build(space.parse(CELLS[0]), 10)
    x = torch.randn(16, 3, 32, 32)
    cpu = ntk_matrix(model, x)
    gpu = ntk_matrix(model.cuda(), x.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-6 * float(cpu.abs().max()))
