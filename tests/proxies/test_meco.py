"""Tests of MeCo: hand-computed minimum eigenvalues, which module calls count, the input
choice, and the plugin contract."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nasx.data import ProbeBatch
from nasx.errors import ProxyError
from nasx.proxies.base import ScoreContext, get_proxy
from nasx.proxies.meco import meco, min_corr_eig
from nasx.spaces.nasbench201 import NASBench201
from nasx.testing import ToySpace, check_proxy


def _batch(x: torch.Tensor) -> ProbeBatch:
    y = torch.zeros(x.shape[0], dtype=torch.long)
    return ProbeBatch(x=x, y=y, num_classes=2, fingerprint="test", source="test")


def _ctx(seed: int = 0) -> ScoreContext:
    return ScoreContext(device=torch.device("cpu"), seed=seed, num_classes=2,
                        generator=torch.Generator().manual_seed(seed))


def test_min_eigenvalue_by_hand():
    # centred rows (-1, 0, 1) and (-1, 1, 0): correlation 1/2, eigenvalues 1/2 and 3/2
    f = torch.tensor([[1.0, 2.0, 3.0], [1.0, 3.0, 2.0]])
    assert min_corr_eig(f) == pytest.approx(0.5, abs=1e-12)
    # perfectly anti-correlated channels: eigenvalues 0 and 2
    assert min_corr_eig(torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])) == \
        pytest.approx(0.0, abs=1e-12)
    # a constant channel: NaN correlations set to 0 -> [[1, 0], [0, 0]] -> 0
    assert min_corr_eig(torch.tensor([[1.0, 2.0, 4.0], [5.0, 5.0, 5.0]])) == \
        pytest.approx(0.0, abs=1e-12)
    # one position per channel (pooled features, logits): every entry NaN -> 0
    assert min_corr_eig(torch.tensor([1.0, 2.0, 3.0])) == 0.0
    # three channels of four positions: compare with numpy's general eigen solver
    g = torch.Generator().manual_seed(0)
    f = torch.randn(3, 4, 1, generator=g)
    import numpy as np

    c = np.corrcoef(f.reshape(3, -1).double().numpy())
    assert min_corr_eig(f) == pytest.approx(float(np.min(np.linalg.eigvals(c).real)), abs=1e-10)


def _identity_conv() -> nn.Module:
    conv = nn.Conv2d(2, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(2).reshape(2, 2, 1, 1))
    return conv


def test_every_module_call_counts_first_image_only():
    # first image: channels (1, 2, 3) and (1, 3, 2) -> lambda_min 1/2 per module call
    first = torch.tensor([[[[1.0, 2.0, 3.0]], [[1.0, 3.0, 2.0]]]])
    second = torch.tensor([[[[1.0, 2.0, 3.0]], [[3.0, 2.0, 1.0]]]])  # would give 0
    x = torch.cat([first, second])
    # the conv and the Sequential around it both fire: 2 x 1/2
    assert meco(nn.Sequential(_identity_conv()), _batch(x), _ctx()) == pytest.approx(1.0)
    # an identity module adds one more call with the same output
    model = nn.Sequential(_identity_conv(), nn.Identity())
    assert meco(model, _batch(x), _ctx()) == pytest.approx(1.5)
    # the second image alone gives 0 per call
    assert meco(nn.Sequential(_identity_conv()), _batch(second), _ctx()) == \
        pytest.approx(0.0, abs=1e-12)


def test_hooks_removed_and_train_mode():
    model = nn.Sequential(_identity_conv(), nn.BatchNorm2d(2))
    model.eval()
    meco(model, _batch(torch.randn(2, 2, 3, 3)), _ctx())
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


def test_random_source():
    model = nn.Sequential(_identity_conv())
    b = _batch(torch.randn(1, 2, 4, 4))
    a1 = meco(model, b, _ctx(5), source="random")
    a2 = meco(model, b, _ctx(5), source="random")
    assert a1 == a2
    assert a1 != meco(model, b, _ctx(6), source="random")
    with pytest.raises(ProxyError, match="source"):
        meco(model, b, _ctx(), source="noise")


@pytest.mark.parametrize("space", [NASBench201(C=8, N=1, input_size=8), ToySpace()],
                         ids=["nb201", "toy"])
def test_contract(space):
    values = check_proxy("meco", space=space, seed=0, n_archs=2)
    assert all(math.isfinite(v) for v in values)


def test_declaration():
    spec = get_proxy("meco")
    assert spec.higher_is_better is True  # benchmarks/results/crosscheck_zico_meco_swap_truth.json
    assert "data" in spec.needs and "labels" not in spec.needs
