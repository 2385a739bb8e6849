"""Tests of ZiCo: a hand-computed value on a linear model, the per-layer formula, the error
cases and the plugin contract on the tiny NAS-Bench-201 network and the toy space."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nasx.data import ProbeBatch
from nasx.errors import ProxyError
from nasx.proxies.base import ScoreContext, get_proxy
from nasx.proxies.zico import zico, zico_from_grads
from nasx.spaces.nasbench201 import NASBench201
from nasx.testing import ToySpace, check_proxy


def _batch(x: torch.Tensor, y: torch.Tensor, num_classes: int = 2) -> ProbeBatch:
    return ProbeBatch(x=x, y=y, num_classes=num_classes, fingerprint="test", source="test")


def _ctx() -> ScoreContext:
    return ScoreContext(device=torch.device("cpu"), seed=0, num_classes=2)


def _part_grad(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/dW of the mean cross-entropy of a linear layer on one batch part, by hand."""
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(w.shape[0])[y]) / len(x)
    return dz.T @ x


def test_formula_on_given_gradients():
    # entry 0: |g| = 1, 3 -> mean 2, std 1 -> ratio 2; entry 1: constant -> left out
    layer_a = [torch.tensor([1.0, 3.0]), torch.tensor([3.0, 3.0])]
    # a layer whose gradients never vary adds nothing (no log 0)
    layer_b = [torch.tensor([0.5, 0.0]), torch.tensor([0.5, 0.0])]
    # entry 0: -2, 2 -> mean|g| 2, std 2 -> 1; entry 1: 1, 3 -> 2 / 1 -> 2; sum 3
    layer_c = [torch.tensor([-2.0, 1.0]), torch.tensor([2.0, 3.0])]
    assert zico_from_grads([layer_a, layer_b, layer_c]) == pytest.approx(
        math.log(2.0) + math.log(3.0), rel=1e-12)
    assert zico_from_grads([layer_b]) == 0.0
    assert math.isnan(zico_from_grads([[torch.tensor([float("nan")]), torch.tensor([1.0])]]))


def test_linear_model_by_hand():
    g = torch.Generator().manual_seed(3)
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.copy_(torch.randn(2, 3, generator=g))
        model.bias.copy_(torch.randn(2, generator=g))
    x = torch.randn(6, 3, generator=g)
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    w, b = model.weight.detach().double().numpy(), model.bias.detach().double().numpy()
    xs, ys = x.double().numpy(), y.numpy()
    parts = [_part_grad(w, b, xs[:3], ys[:3]), _part_grad(w, b, xs[3:], ys[3:])]
    stack = np.stack(parts)
    expected = math.log(float(np.sum(np.abs(stack).mean(0) / stack.std(0))))
    got = zico(model, _batch(x, y), _ctx())
    # the gradients of each half are separate (not accumulated across halves)
    assert got == pytest.approx(expected, rel=1e-5)
    # three parts of two samples
    parts3 = np.stack([_part_grad(w, b, xs[i:i + 2], ys[i:i + 2]) for i in (0, 2, 4)])
    expected3 = math.log(float(np.sum(np.abs(parts3).mean(0) / parts3.std(0))))
    assert zico(model, _batch(x, y), _ctx(), splits=3) == pytest.approx(expected3, rel=1e-5)


def test_weights_left_as_they_were():
    model = nn.Linear(3, 2)
    model.weight.requires_grad_(False)
    zico(model, _batch(torch.randn(4, 3), torch.tensor([0, 1, 0, 1])), _ctx())
    assert model.weight.requires_grad is False


@pytest.mark.parametrize("splits, n", [(1, 4), (3, 2)])
def test_bad_input(splits, n):
    model = nn.Linear(3, 2)
    with pytest.raises(ProxyError):
        zico(model, _batch(torch.randn(n, 3), torch.zeros(n, dtype=torch.long)), _ctx(),
             splits=splits)


def test_no_scored_layer():
    with pytest.raises(ProxyError, match="Conv2d or nn.Linear"):
        zico(nn.Sequential(nn.ReLU()), _batch(torch.randn(4, 3), torch.zeros(4).long()),
             _ctx())


@pytest.mark.parametrize("space", [NASBench201(C=8, N=1, input_size=8), ToySpace()],
                         ids=["nb201", "toy"])
def test_contract(space):
    values = check_proxy("zico", space=space, seed=0, n_archs=2)
    assert all(math.isfinite(v) for v in values)


def test_declaration():
    spec = get_proxy("zico")
    assert spec.higher_is_better is True  # benchmarks/results/crosscheck_zico_meco_swap_truth.json
    assert {"data", "labels", "grads"} <= spec.needs
