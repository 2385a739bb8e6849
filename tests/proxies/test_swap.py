"""Tests of SWAP: hand-counted activation patterns, the regularisation factor, the Gaussian
re-initialisation, the error cases and the plugin contract."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nasx.data import ProbeBatch
from nasx.errors import ProxyError
from nasx.proxies.base import ScoreContext, get_proxy
from nasx.proxies.swap import count_patterns, gaussian_init, swap, swap_once
from nasx.spaces.nasbench201 import NASBench201
from nasx.testing import ToySpace, check_proxy


def _batch(x: torch.Tensor) -> ProbeBatch:
    y = torch.zeros(x.shape[0], dtype=torch.long)
    return ProbeBatch(x=x, y=y, num_classes=2, fingerprint="test", source="test")


def _ctx(seed: int = 0) -> ScoreContext:
    return ScoreContext(device=torch.device("cpu"), seed=seed, num_classes=2,
                        generator=torch.Generator().manual_seed(seed))


def test_count_patterns_by_hand():
    # columns (units) over 3 samples: signs (1,0,1), (1,0,1), (0,0,0), (0,1,0) -> 3 distinct
    a = torch.tensor([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0], [1.0, 5.0, 0.0, 0.0]])
    assert count_patterns(a) == 3


@pytest.mark.parametrize("n", [5, 33, 39, 40, 45, 66, 67, 128])
def test_count_patterns_matches_unique_rows(n):
    g = torch.Generator().manual_seed(n)
    a = torch.randint(-1, 2, (n, 300), generator=g).float()
    a[:, 150:] = a[:, :150]  # repeated units
    a[: n // 2, :10] = 0.0
    assert count_patterns(a) == torch.unique(torch.sign(a).T, dim=0).shape[0]


def test_count_patterns_words_differ_only_in_last_word():
    # 70 samples -> three float64 words; units that agree on the first two words and differ in
    # the last sample only must stay distinct, units equal everywhere must merge
    a = torch.ones(70, 4)
    a[69, 1] = -1.0
    a[69, 2] = 0.0
    assert count_patterns(a) == 3
    assert count_patterns(torch.zeros(70, 0)) == 0


def test_sample_positions_spread_over_the_batch():
    from nasx.proxies.swap import sample_positions

    assert sample_positions(16, 16) is None and sample_positions(8, 16) is None
    assert sample_positions(128, None) is None
    pos = sample_positions(128, 16)
    assert pos.tolist()[0] == 0 and pos.tolist()[-1] == 127 and len(set(pos.tolist())) == 16
    # a class-ordered batch of 10 classes x 12 images: every class is sampled
    assert len({int(p) // 12 for p in sample_positions(120, 16)}) == 10


def test_samples_option_scores_the_chosen_images():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 1, 1, 2, generator=g)
    from nasx.proxies.swap import sample_positions

    sub = x[sample_positions(40, 16)]
    assert swap(_relu_net(), _batch(x), _ctx(), repeats=1, init="none") == \
        swap(_relu_net(), _batch(sub), _ctx(), repeats=1, init="none", samples=None)
    assert swap(_relu_net(), _batch(x), _ctx(), repeats=1, init="none", samples=None) == \
        swap_once(_relu_net(), x)
    with pytest.raises(ProxyError):
        swap(_relu_net(), _batch(x), _ctx(), repeats=1, init="none", samples=0)


def _relu_net() -> nn.Module:
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
    return nn.Sequential(conv, nn.ReLU())


def test_swap_once_by_hand():
    # images (1, -1) and (2, 3): ReLU outputs per unit over the two samples:
    # (1, 2), (0, 3), (0, 0), (1, 0) -> patterns (1,1), (0,1), (0,0), (1,0): 4 distinct
    x = torch.tensor([[[[1.0, -1.0]]], [[[2.0, 3.0]]]])
    assert swap_once(_relu_net(), x) == 4
    assert swap(_relu_net(), _batch(x), _ctx(), repeats=1, init="none") == 4.0
    # two identical images: only patterns (0,0) and (1,1) are possible
    assert swap_once(_relu_net(), torch.cat([x[:1], x[:1]])) == 2


def test_regularisation_factor():
    x = torch.tensor([[[[1.0, -1.0]]], [[[2.0, 3.0]]]])
    # 2 parameters = 0.002 thousand
    assert swap(_relu_net(), _batch(x), _ctx(), repeats=1, init="none", mu=0.002,
                sigma=1.0) == pytest.approx(4.0)
    assert swap(_relu_net(), _batch(x), _ctx(), repeats=1, init="none", mu=0.0,
                sigma=4e-6) == pytest.approx(4.0 * math.exp(-1.0))


def test_gaussian_init():
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3, 2))
    with torch.no_grad():
        model[1].weight.fill_(0.3)
        model[1].bias.fill_(0.2)
    gaussian_init(model, torch.Generator().manual_seed(1))
    w1 = model[0].weight.detach().clone()
    assert torch.all(model[0].bias == 0) and torch.all(model[4].bias == 0)
    assert torch.all(model[1].weight == 1) and torch.all(model[1].bias == 0)
    gaussian_init(model, torch.Generator().manual_seed(1))
    assert torch.equal(model[0].weight, w1)
    big = nn.Linear(200, 200)
    gaussian_init(big, torch.Generator().manual_seed(0))
    assert big.weight.std().item() == pytest.approx(1.0, abs=0.02)


def test_repeats_average_and_determinism():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 1),
                          nn.ReLU())
    x = torch.randn(6, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    a = swap(model, _batch(x), _ctx(3), repeats=4)
    assert a == swap(model, _batch(x), _ctx(3), repeats=4)
    ctx = _ctx(3)
    once = []
    for _ in range(4):
        gaussian_init(model, ctx.generator)
        once.append(swap_once(model, x))
    assert a == pytest.approx(sum(once) / 4)


@pytest.mark.parametrize("opts, match", [
    ({"repeats": 0}, "repeats"),
    ({"init": "none", "repeats": 2}, "repeats=1"),
    ({"init": "xavier"}, "init"),
    ({"mu": 1.0}, "mu and sigma"),
    ({"mu": 1.0, "sigma": 0.0}, "sigma > 0"),
])
def test_bad_options(opts, match):
    with pytest.raises(ProxyError, match=match):
        swap(_relu_net(), _batch(torch.randn(2, 1, 1, 2)), _ctx(), **opts)


def test_no_relu():
    with pytest.raises(ProxyError, match="ReLU"):
        swap(nn.Sequential(nn.Conv2d(1, 1, 1)), _batch(torch.randn(2, 1, 2, 2)), _ctx())
    net = nn.Sequential(nn.Flatten(), nn.ReLU())  # a ReLU on 2-D input is not counted
    with pytest.raises(ProxyError, match="4-D"):
        swap(net, _batch(torch.randn(2, 1, 2, 2)), _ctx())


@pytest.mark.parametrize("space", [NASBench201(C=8, N=1, input_size=8), ToySpace()],
                         ids=["nb201", "toy"])
def test_contract(space):
    values = check_proxy("swap", space=space, seed=0, n_archs=2)
    assert all(math.isfinite(v) and v >= 1 for v in values)


def test_declaration():
    spec = get_proxy("swap")
    assert spec.higher_is_better is True  # benchmarks/results/crosscheck_zico_meco_swap_truth.json
    assert "data" in spec.needs and "labels" not in spec.needs
