"""Tests of the VKDNW proxies.

Analytic checks (the covariance factor, the decile entropy of known spectra, the Fisher of a
linear model against an explicit per-sample loop, the lexicographic single score), the contract
check on the tiny NAS-Bench-201 network and the toy space, and the population aggregation.
The agreement with the authors' code is measured in ``benchmarks/crosscheck_vkdnw.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nasx.data import ProbeBatch
from nasx.errors import ProxyError
from nasx.population import log_rank_sum, population_values
from nasx.proxies.base import ScoreContext, get_proxy
from nasx.proxies.vkdnw import decile_entropy, fisher_factor, vkdnw_fisher, vkdnw_scores
from nasx.spaces.nasbench201 import NASBench201
from nasx.testing import ToySpace, check_proxy

NAMES = ["vkdnw-entropy", "vkdnw-dim", "vkdnw"]


def _ctx(seed: int = 0, space=None) -> ScoreContext:
    g = torch.Generator().manual_seed(seed)
    return ScoreContext(device=torch.device("cpu"), seed=seed, num_classes=3, generator=g,
                        space=space)


def _batch(x: torch.Tensor) -> ProbeBatch:
    return ProbeBatch(x, torch.zeros(x.shape[0], dtype=torch.long), 3, "t", "t")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("space", [NASBench201(C=8, N=1, input_size=8), ToySpace()],
                         ids=["nasbench201-tiny", "toy"])
def test_contract(name, space):
    values = check_proxy(name, space, seed=0)
    assert len(values) == 2 and all(math.isfinite(v) for v in values)


def test_orientation_and_registration():
    for name in NAMES:
        assert get_proxy(name).higher_is_better is True
    agg = get_proxy("vkdnw-agg")
    assert agg.population and agg.higher_is_better and agg.combine is log_rank_sum
    assert agg.components == ("vkdnw", "jacob-cov", "az-expressivity", "az-trainability",
                              "az-complexity")


def test_factor_reproduces_the_smoothed_multinomial_covariance():
    logits = torch.randn(5, 6, generator=torch.Generator().manual_seed(1))
    factor = fisher_factor(logits)
    a16 = torch.tensor(0.05, dtype=torch.float16)
    p = torch.softmax(logits.double(), 1) * float(1 - a16) + float(a16 / 6)
    cov = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    # lower-triangular, and L L^T is the covariance up to the smoothing's excess mass
    # (the probabilities sum to 1 + e, e = 6 * 0.004997... + 0.9501953 - 1)
    assert torch.all(torch.triu(factor, 1) == 0)
    excess = float(p.sum(1).mean()) - 1
    err = (factor @ factor.transpose(1, 2) - cov).abs().max()
    assert 0 < excess < 1e-3 and float(err) < 5 * excess


def test_factor_with_exact_probabilities_is_a_cholesky_factor():
    # without smoothing excess (alpha = 0 is exact in float16) L L^T = diag(p) - p p^T exactly
    logits = torch.randn(4, 5, generator=torch.Generator().manual_seed(2))
    factor = fisher_factor(logits, alpha=0.0)
    p = torch.softmax(logits.double(), 1)
    cov = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    torch.testing.assert_close(factor @ factor.transpose(1, 2), cov, atol=1e-12, rtol=1e-9)


def test_decile_entropy_of_known_spectra():
    # equal eigenvalues: nine equal deciles, entropy log 9
    assert decile_entropy(torch.eye(12, dtype=torch.float64)) == pytest.approx(
        math.log(9), abs=1e-8)
    # eigenvalues 1..11: deciles by linear interpolation (numpy's default), then the entropy
    lam = np.arange(1.0, 12.0)
    levels = torch.arange(0.1, 1.0, 0.1).double().numpy()  # the reference's float32 levels
    q = np.quantile(lam, levels)
    t = q / (np.abs(q).sum() + 1e-10)
    expected = -(t * np.log(t + 1e-10)).sum()
    got = decile_entropy(torch.diag(torch.tensor(lam)))
    assert got == pytest.approx(expected, abs=1e-10)
    assert decile_entropy(torch.zeros(5, 5, dtype=torch.float64)) == 0.0


def test_fisher_matches_an_explicit_per_sample_loop():
    g = torch.Generator().manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    x = torch.randn(6, 4, generator=g)
    fisher = vkdnw_fisher(model, x, per_tensor=2, max_tensors=3)
    # selected: flat indices {0, numel-1} of the first three tensors (w1, b1, w2)
    chosen = [(p, [0, p.numel() - 1]) for _, p in list(model.named_parameters())[:3]]
    rows = []
    for b in range(6):
        jac = []
        for k in range(3):
            out = model(x[b:b + 1])[0, k]
            grads = torch.autograd.grad(out, [p for p, _ in chosen])
            jac.append(torch.cat([gr.reshape(-1)[idx] for gr, (_, idx) in zip(grads, chosen)]))
        j = torch.stack(jac).double()  # (K, P)
        factor = fisher_factor(model(x[b:b + 1]).detach())[0]
        rows.append((factor @ j).T @ (factor @ j))
    torch.testing.assert_close(fisher, torch.stack(rows).mean(0), atol=1e-10, rtol=1e-6)


def test_single_score_orders_by_tensor_count_then_entropy():
    space = NASBench201(C=8, N=1, input_size=8)
    rng = np.random.default_rng(4)
    seen = []
    for _ in range(3):
        arch = space.sample(rng)
        net = space.build(arch, 10)
        batch = _batch(torch.zeros(2, 3, 8, 8))
        s = vkdnw_scores(net, batch, _ctx(space=space), batch_size=8)
        single = get_proxy("vkdnw").fn(net, batch, _ctx(space=space), batch_size=8)
        assert s["dim"] == len(list(net.parameters()))
        assert 0 <= s["entropy"] <= math.log(9)
        assert single == pytest.approx(s["dim"] + s["entropy"] / math.log(10))
        assert math.floor(single) == s["dim"]
        seen.append((s["dim"], s["entropy"], single))
    # the single score sorts exactly as the (dim, entropy) pair
    assert sorted(seen, key=lambda t: t[2]) == sorted(seen, key=lambda t: (t[0], t[1]))


def test_options_are_checked():
    model = nn.Linear(3, 2)
    with pytest.raises(ProxyError, match="init"):
        vkdnw_scores(model, _batch(torch.zeros(2, 3)), _ctx(), init="xavier")
    with pytest.raises(ProxyError, match="per_tensor"):
        vkdnw_fisher(model, torch.zeros(2, 3), per_tensor=0)


def test_vkdnw_agg_hand_made_population():
    leaf = {"vkdnw": [40.5, 48.2, 39.9], "jacob-cov": [-60.0, None, -50.0],
            "az-expressivity": [10.0, 12.0, 11.0], "az-trainability": [-0.3, -0.1, -0.2],
            "az-complexity": [4.0, 6.0, 5.0]}
    got = population_values(get_proxy("vkdnw-agg"), leaf)
    ranks = np.array([[2, 3, 1], [2, 1, 3], [1, 3, 2], [1, 3, 2], [1, 3, 2]], float)
    np.testing.assert_allclose(got, np.log(ranks / 3).sum(0))
