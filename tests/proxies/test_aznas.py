"""Tests of the AZ-NAS proxies and of the log-rank aggregation in ``nasx.population``.

Analytic checks on hand-made feature maps and tiny models (entropy of known spectra, the
trainability of known Jacobians, the progressivity of known entropies), the contract check on
the tiny NAS-Bench-201 network, the cell-feature rule, and the population aggregation.
The agreement with the authors' code is measured in ``benchmarks/crosscheck_aznas.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import nasx
from nasx.data import ProbeBatch, draw_batch, synthetic_dataset
from nasx.errors import ProxyError
from nasx.population import log_rank_sum, population_values, rank_sum
from nasx.proxies.aznas import aznas_scores, cell_features, kaiming_fan_in_init, spectral_entropy
from nasx.proxies.base import ScoreContext, get_proxy
from nasx.spaces.nasbench101 import NASBench101
from nasx.spaces.nasbench201 import NASBench201
from nasx.testing import ToySpace, check_proxy

COMPONENTS = ["az-expressivity", "az-progressivity", "az-trainability", "az-complexity"]


def _ctx(seed: int = 0, space=None) -> ScoreContext:
    g = torch.Generator().manual_seed(seed)
    return ScoreContext(device=torch.device("cpu"), seed=seed, num_classes=4, generator=g,
                        space=space)


def _batch(shape=(2, 1, 4, 4)) -> ProbeBatch:
    return ProbeBatch(torch.zeros(shape), torch.zeros(shape[0], dtype=torch.long), 4, "t", "t")


class Features(nn.Module):
    """A model whose cell features are given functions of its input (rule 1)."""

    def __init__(self, *fns) -> None:
        super().__init__()
        self.fns = fns
        self.scale = nn.Parameter(torch.ones(()))

    def nasx_cell_features(self, x):
        feats = [x * self.scale]
        for fn in self.fns:
            feats.append(fn(feats[-1]))
        return feats

    def forward(self, x):
        return self.nasx_cell_features(x)[-1].mean((1, 2, 3))


# -- contract ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", COMPONENTS)
def test_contract_nasbench201(name):
    values = check_proxy(name, NASBench201(C=8, N=1, input_size=8), seed=0)
    assert len(values) == 2 and all(math.isfinite(v) for v in values)


def test_orientation_and_registration():
    for name in COMPONENTS:
        assert get_proxy(name).higher_is_better is True
    spec = get_proxy("az-nas")
    assert spec.population and spec.higher_is_better
    assert spec.components == tuple(COMPONENTS) and spec.combine is log_rank_sum


def test_toy_space_without_cells_is_a_clear_error():
    space = ToySpace()
    model = space.build(space.sample(np.random.default_rng(0)), 4)
    with pytest.raises(ProxyError, match="nasx_cell_features"):
        aznas_scores(model, _batch((2, 3, 8, 8)), _ctx(space=space))


def test_bad_options_are_errors():
    model = Features(lambda f: 2 * f)
    with pytest.raises(ProxyError, match="init"):
        aznas_scores(model, _batch(), _ctx(), init="xavier")
    with pytest.raises(ProxyError, match="inputs"):
        aznas_scores(model, _batch(), _ctx(), inputs="uniform")


# -- expressivity --------------------------------------------------------------------------------
def test_spectral_entropy_isotropic_and_rank_one():
    # 4 positions, 2 channels with orthogonal, equal-norm, zero-mean columns: p = (1/2, 1/2)
    iso = torch.tensor([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]]).reshape(1, 2, 2, 2)
    assert spectral_entropy(iso) == pytest.approx(math.log(2), abs=1e-7)
    # second channel a multiple of the first: one nonzero eigenvalue, entropy 0
    col = torch.tensor([1.0, -2.0, 0.5, 0.5])
    rank1 = torch.stack([col, 3 * col]).reshape(1, 2, 2, 2)
    assert spectral_entropy(rank1) == pytest.approx(0.0, abs=1e-6)


def test_expressivity_and_progressivity_of_known_features():
    iso = torch.tensor([[1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0]]).reshape(1, 2, 2, 2)
    col = torch.tensor([2.0, -1.0, 1.5, 1.5]).reshape(1, 1, 2, 2)
    # F0 = iso + 1 (isotropic once centred: log 2), F1 rank one (0), F2 isotropic (log 2)
    model = Features(lambda f: torch.cat([col, 3 * col], 1) * f.mean(),
                     lambda f: iso * f.mean())
    batch = ProbeBatch(iso + 1.0, torch.zeros(1, dtype=torch.long), 4, "t", "t")
    s = aznas_scores(model, batch, _ctx(), init="none", inputs="probe")
    assert s["expressivity"] == pytest.approx(2 * math.log(2), abs=1e-6)
    assert s["progressivity"] == pytest.approx(-math.log(2), abs=1e-6)


def test_zero_feature_map_is_a_failure():
    model = Features(lambda f: f * 0.0)
    batch = ProbeBatch(torch.randn(2, 2, 4, 4), torch.zeros(2, dtype=torch.long), 4, "t", "t")
    value = get_proxy("az-expressivity").fn(model, batch, _ctx(), init="none", inputs="probe")
    assert math.isnan(value)


# -- trainability --------------------------------------------------------------------------------
def test_trainability_of_a_scaling_is_two_minus_s_minus_one_over_s():
    model = Features(lambda f: 2.0 * f)
    batch = ProbeBatch(torch.randn(3, 1, 4, 4), torch.zeros(3, dtype=torch.long), 4, "t", "t")
    s = aznas_scores(model, batch, _ctx(), init="none", inputs="probe")
    # one channel: M = 2 * mean(g_out^2) = 2, so the score is 2 - 2 - 1/2
    assert s["trainability"] == pytest.approx(2 - 2 - 1 / (2 + 1e-6), abs=1e-9)


def test_trainability_with_downsampling_uses_pixel_unshuffle():
    model = Features(lambda f: nn.functional.avg_pool2d(f, 2))
    batch = ProbeBatch(torch.randn(2, 1, 4, 4), torch.zeros(2, dtype=torch.long), 4, "t", "t")
    s = aznas_scores(model, batch, _ctx(), init="none", inputs="probe")
    # g_in = g_out / 4 on each 2x2 block: M is 4 x 1 with entries 1/4, spectral norm 1/2
    assert s["trainability"] == pytest.approx(2 - 0.5 - 1 / (0.5 + 1e-6), abs=1e-9)


def test_identity_cell_makes_trainability_a_failure():
    model = Features(lambda f: f + 0.0)
    batch = ProbeBatch(torch.randn(2, 2, 4, 4), torch.zeros(2, dtype=torch.long), 4, "t", "t")
    value = get_proxy("az-trainability").fn(model, batch, _ctx(), init="none",
                                              inputs="probe")
    assert math.isnan(value)


# -- the network side ----------------------------------------------------------------------------
def test_cell_features_of_nasbench201_are_stem_and_every_cell():
    space = NASBench201(C=8, N=2, input_size=8)
    arch = space.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|"
                       "+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|")
    net = space.build(arch, 10)
    x = torch.randn(2, 3, 8, 8)
    feats = cell_features(net, x)
    assert len(feats) == 1 + len(net.cells) == 9
    expected = [net.stem(x)]
    for cell in net.cells:
        expected.append(cell(expected[-1]))
    for f, e in zip(feats, expected):
        torch.testing.assert_close(f, e)


def test_cell_features_of_nasbench101_are_stem_and_every_cell_without_the_pooling():
    space = NASBench101(stem_channels=8, stacks=2, cells_per_stack=2, input_size=8)
    arch = space.parse('{"matrix": [[0,1,1,0],[0,0,0,1],[0,0,0,1],[0,0,0,0]], '
                       '"ops": ["input","conv3x3-bn-relu","maxpool3x3","output"]}')
    net = space.build(arch, 10)
    x = torch.randn(2, 3, 8, 8)
    feats = cell_features(net, x)
    assert len(net.cells) == 4 and len(feats) == 5
    h = net.stem(x)
    expected = [h]
    for layer in net.layers:  # cells, with a max-pooling between the two stacks
        h = layer(h)
        if layer in net.cells:
            expected.append(h)
    for f, e in zip(feats, expected):
        torch.testing.assert_close(f, e)
    assert [f.shape[-1] for f in feats] == [8, 8, 8, 4, 4]


def test_kaiming_init_matches_torch_with_the_same_generator():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    with torch.no_grad():
        net[1].weight.fill_(3.0)
    kaiming_fan_in_init(net, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    w0 = torch.empty(4, 3, 3, 3).normal_(0, math.sqrt(2 / 27), generator=g)
    w2 = torch.empty(2, 4).normal_(0, math.sqrt(2 / 4), generator=g)
    torch.testing.assert_close(net[0].weight.data, w0)
    torch.testing.assert_close(net[2].weight.data, w2)
    assert torch.all(net[0].bias == 0) and torch.all(net[2].bias == 0)
    assert torch.all(net[1].weight == 1) and torch.all(net[1].bias == 0)


def test_components_share_one_pass():
    space = NASBench201(C=8, N=1, input_size=8)
    arch = space.sample(np.random.default_rng(1))
    net = space.build(arch, 10)
    calls = []
    net.stem.register_forward_hook(lambda m, i, o: calls.append(1))
    ctx = _ctx(space=space)
    batch = _batch((2, 3, 8, 8))
    for name in COMPONENTS[:3]:
        get_proxy(name)(net, batch, ctx)
    assert len(calls) == 1


# -- aggregation ---------------------------------------------------------------------------------
def test_log_rank_sum_hand_made_population():
    leaf = {"az-expressivity": [3.0, 1.0, 2.0, None], "az-progressivity": [0.1, 0.3, 0.2, 0.0],
            "az-trainability": [-1.0, -2.0, None, -0.5], "az-complexity": [4.0, 3.0, 2.0, 1.0]}
    got = population_values(get_proxy("az-nas"), leaf)
    # oriented ranks (1 = worst, failures lowest): expr [4, 2, 3, 1], prog [2, 4, 3, 1],
    # train [3, 2, 1, 4], flops [4, 3, 2, 1]; score = sum log(r / 4)
    ranks = np.array([[4, 2, 3, 1], [2, 4, 3, 1], [3, 2, 1, 4], [4, 3, 2, 1]], float)
    np.testing.assert_allclose(got, np.log(ranks / 4).sum(0))


def test_log_rank_sum_penalises_one_bad_component_more_than_rank_sum():
    comps = {"params": np.array([1.0, 2.0, 3.0]), "flops": np.array([3.0, 2.0, 1.0])}
    assert np.ptp(rank_sum(comps)) == 0  # the plain sum cannot tell them apart
    got = log_rank_sum(comps)
    assert got[1] > got[0] and got[0] == pytest.approx(got[2])
    with pytest.raises(ValueError):
        log_rank_sum({})


def test_az_nas_through_evaluate():
    space = NASBench201(C=8, N=1, input_size=8)
    rng = np.random.default_rng(0)
    archs: list = []
    while len(archs) < 3:
        a = space.sample(rng)
        if a not in archs:
            archs.append(a)
    truth = [(str(a), float(i)) for i, a in enumerate(archs)]
    batch = draw_batch(synthetic_dataset(num_classes=4, n_per_class=8, size=8), 16, 0)
    rep = nasx.evaluate(space, ["az-nas", *COMPONENTS], truth, sample=None, data=batch,
                        device="cpu", store=False)
    rows = {(a, p): s for a, p, s, _, _ in rep.rows}
    comps = {c: np.array([rows[(str(a), c)] for a in archs], float) for c in COMPONENTS}
    got = np.array([rows[(str(a), "az-nas")] for a in archs], float)
    np.testing.assert_allclose(got, log_rank_sum(comps))
