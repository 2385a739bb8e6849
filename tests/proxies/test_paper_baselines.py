"""Tests of the GradAlign paper's training-free baselines: gradsign, naswot, ntk,
linear-regions, zen and the te-nas population proxy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import nasx
from nasx.data import ProbeBatch, draw_batch, synthetic_dataset
from nasx.population import population_values
from nasx.proxies.base import ScoreContext, get_proxy
from nasx.proxies.gradsign import gradsign
from nasx.proxies.naswot import activation_kernel, naswot
from nasx.proxies.tenas import count_patterns, linear_regions, ntk_condition_number, thin_model
from nasx.proxies.zen import pre_gap_features, zen
from nasx.spaces.nasbench201 import NASBench201
from nasx.testing import ToySpace, check_proxy

PROXIES = ["gradsign", "naswot", "ntk", "linear-regions", "zen"]


def _ctx(seed: int = 0, space=None) -> ScoreContext:
    g = torch.Generator()
    g.manual_seed(seed)
    return ScoreContext(device=torch.device("cpu"), seed=seed, num_classes=4, generator=g,
                        space=space)


def _batch(x: torch.Tensor, y: torch.Tensor | None = None, classes: int = 4) -> ProbeBatch:
    if y is None:
        y = torch.zeros(x.shape[0], dtype=torch.long)
    return ProbeBatch(x, y, classes, "test", "test")


# -- contract: finite and deterministic per seed ----------------------------------------------
@pytest.mark.parametrize("name", PROXIES)
@pytest.mark.parametrize("space", [NASBench201(C=8, N=1, input_size=8), ToySpace()],
                         ids=["nasbench201-tiny", "toy"])
def test_contract(name, space):
    values = check_proxy(name, space, seed=0)
    assert len(values) == 2 and all(math.isfinite(v) for v in values)


def test_orientation_declared():
    assert get_proxy("gradsign").higher_is_better is True
    assert get_proxy("naswot").higher_is_better is True
    assert get_proxy("ntk").higher_is_better is False
    assert get_proxy("linear-regions").higher_is_better is True
    assert get_proxy("zen").higher_is_better is True
    te = get_proxy("te-nas")
    assert te.population and te.components == ("ntk", "linear-regions") and te.higher_is_better


def test_proxies_leave_no_hooks():
    space = NASBench201(C=8, N=1, input_size=8)
    arch = space.sample(np.random.default_rng(1))
    batch = draw_batch(synthetic_dataset(num_classes=4, n_per_class=8, size=8), 16, 0)
    for name in PROXIES:
        torch.manual_seed(0)
        model = space.build(arch, 4)
        get_proxy(name)(model, batch, _ctx(0, space))
        for m in model.modules():
            assert not m._forward_hooks and not m._backward_hooks, name


# -- naswot --------------------------------------------------------------------------------------
class _Codes(nn.Module):
    """Identity into a ReLU: the ReLU's input codes are the input's signs, chosen by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.act = nn.ReLU()
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(x))


def test_naswot_hand_made_codes():
    codes = torch.tensor([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1]], dtype=torch.float32)
    x = codes * 2.0 - 1.0  # positive where the code is 1
    # K[i, j] = units - hamming(c_i, c_j)
    ham = (codes[:, None, :] != codes[None, :, :]).sum(-1).double()
    expected = torch.logdet(4.0 - ham)
    got = naswot(_Codes(), _batch(x), _ctx(), match="module")
    assert got == pytest.approx(float(expected), abs=1e-12)
    assert torch.equal(activation_kernel(codes > 0), 4.0 - ham)


def test_naswot_identical_images_fail():
    x = torch.ones(3, 4)
    assert naswot(_Codes(), _batch(x), _ctx(), match="module") == -math.inf


def test_naswot_skips_modules_off_the_output_path():
    class Dead(_Codes):
        def __init__(self) -> None:
            super().__init__()
            self.dead = nn.ReLU()

        def forward(self, x):
            self.dead(-x)  # codes of -x never reach the output
            return super().forward(x)

    codes = torch.tensor([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1]], dtype=torch.float32)
    x = codes * 2.0 - 1.0
    assert naswot(Dead(), _batch(x), _ctx(), match="module") == \
        pytest.approx(naswot(_Codes(), _batch(x), _ctx(), match="module"))


# -- ntk -------------------------------------------------------------------------------------------
def test_ntk_linear_model_matches_analytic_eigenvalue_ratio():
    torch.manual_seed(0)
    lin = nn.Linear(5, 3, bias=True)
    x = torch.randn(4, 5, dtype=torch.float32)
    # f_sum(x) = sum_c (W x + b)_c ; d/dW = 1_c x^T per sample -> J J^T = 3 * X X^T
    # (only parameters named *weight* count, so the bias is left out, as in TE-NAS)
    gram = 3.0 * (x.double() @ x.double().T)
    eig = torch.linalg.eigvalsh(gram)
    got = ntk_condition_number(lin, _batch(x), _ctx())
    assert got == pytest.approx(float(eig[-1] / eig[0]), rel=1e-5)


def test_ntk_singular_kernel_is_a_failure():
    lin = nn.Linear(2, 1)
    x = torch.zeros(3, 2)  # every weight gradient is 0: the kernel is exactly 0
    assert math.isnan(ntk_condition_number(lin, _batch(x), _ctx()))


# -- linear regions ----------------------------------------------------------------------
def test_count_patterns():
    p = torch.tensor([[1, 0, 1], [1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 0, 0]])
    assert count_patterns(p) == 3
    wide = torch.zeros(4, 13, dtype=torch.bool)
    wide[1, 12] = True
    assert count_patterns(wide) == 2


class _OneHidden(nn.Module):
    """x (1x1x1 'image') -> 2 hidden ReLUs with biases -> output. Kinks at x = 1 and x = -1."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Conv2d(1, 2, 1)
        self.act = nn.ReLU()
        self.out = nn.Linear(2, 1)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
            self.hidden.bias.copy_(torch.tensor([-1.0, -1.0]))

    def forward(self, x):
        return self.out(self.act(self.hidden(x)).flatten(1))


def test_linear_regions_one_hidden_layer_known_inputs():
    # units: relu(x - 1), relu(-x - 1): regions x < -1, -1 < x < 1, x > 1
    x = torch.tensor([-3.0, -2.0, 0.0, 0.5, 2.0, 5.0]).reshape(6, 1, 1, 1)
    net = _OneHidden()
    assert thin_model(net, _ctx())[1] is False
    got = linear_regions(net, _batch(x), _ctx(), n_samples=400, chunk=400, crop=None)
    assert got == 3.0
    only_middle = torch.tensor([-0.5, 0.0, 0.5]).reshape(3, 1, 1, 1)
    assert linear_regions(net, _batch(only_middle), _ctx(), n_samples=50, chunk=50,
                          crop=None) == 1.0


def test_linear_regions_uses_tenas_thin_network_on_nasbench201():
    space = NASBench201(C=8, N=1, input_size=8)
    arch = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+"
                       "|skip_connect~0|avg_pool_3x3~1|none~2|")
    model = space.build(arch, 4)
    thin, is_thin = thin_model(model, _ctx())
    assert is_thin
    convs = [m for m in thin.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 and all(c.in_channels == 1 == c.out_channels for c in convs)
    assert thin(torch.randn(5, 1, 3, 3)).shape == (5, 1, 3, 3)


DARTS_GENO = ("Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_3x3', 0), "
              "('max_pool_3x3', 2), ('sep_conv_5x5', 1), ('skip_connect', 3), "
              "('avg_pool_3x3', 0), ('dil_conv_5x5', 4)], normal_concat=[2, 3, 4, 5], "
              "reduce=[('skip_connect', 0), ('max_pool_3x3', 1), ('sep_conv_3x3', 0), "
              "('skip_connect', 2), ('dil_conv_3x3', 1), ('avg_pool_3x3', 3), "
              "('sep_conv_5x5', 2), ('skip_connect', 4)], reduce_concat=[2, 3, 4, 5])")


def _thin_checks(model: nn.Module) -> nn.Module:
    from nasx.spaces._cell_ops import FactorizedReduce

    thin, is_thin = thin_model(model, _ctx())
    assert is_thin
    # TE-NAS's DARTS thin network: no stem, a normal cell with C=1 on 1-channel inputs, a
    # reduction cell with C=2, BatchNorm + ReLU
    assert len(thin.cells) == 2
    first = [m for m in thin.cells[0].preprocess0.modules() if isinstance(m, nn.Conv2d)]
    first += [m for m in thin.cells[0].preprocess1.modules() if isinstance(m, nn.Conv2d)]
    assert first and all(m.in_channels == 1 == m.out_channels for m in first)
    assert isinstance(thin.lastact[1], nn.ReLU)
    out = thin(torch.randn(7, 1, 3, 3))  # the 3x3 crops of the reference: odd size
    assert out.shape == (7, thin.lastact[0].num_features, 2, 2)
    assert all(m.pad for m in thin.modules() if isinstance(m, FactorizedReduce))
    return thin


def test_linear_regions_uses_tenas_thin_network_on_darts():
    from nasx.spaces.darts import DartsSpace

    space = DartsSpace(C=4, layers=3)
    model = space.build(space.parse(DARTS_GENO), 4)
    thin = _thin_checks(model)
    assert thin.lastact[0].num_features == 4 * 2  # multiplier 4 x reduction C 2
    assert len(thin.cells[0].ops) == 8  # the genotype's own ops, not a supernet's
    # the count is that of the thin network, below the number of inputs (a full-width
    # network on full images would tell every input apart)
    x = torch.randn(16, 3, 8, 8)
    got = linear_regions(model, _batch(x), _ctx(), n_samples=600, chunk=200)
    assert 1.0 < got < 600.0
    assert got == linear_regions(model, _batch(x), _ctx(), n_samples=600, chunk=200)
    # a supernet of the space gets the thin network of its op sets
    sets = {e: ["skip_connect", "sep_conv_3x3"] for e in space.edges()}
    sthin = _thin_checks(space.build_supernet(sets, 4))
    assert all(len(ops) == 2 for ops in sthin.cells[0].edges)


@pytest.mark.parametrize("family", ["nds-enas", "nds-pnas", "nds-amoeba"])
def test_linear_regions_thin_network_on_nds(family):
    from nasx.registry import make_space

    space = make_space(family)
    model = space.build(space.sample(np.random.default_rng(0)), 4)
    _thin_checks(model)


def test_padded_factorized_reduce_equals_unpadded_on_even_sizes():
    from nasx.spaces._cell_ops import FactorizedReduce

    op = FactorizedReduce(4, 6)
    x = torch.randn(3, 4, 8, 8)
    plain = op(x)
    op.pad = True
    torch.testing.assert_close(op(x), plain, rtol=0, atol=0)


# -- gradsign ----------------------------------------------------------------------------
def test_gradsign_hand_computed_linear_model():
    lin = nn.Linear(2, 2, bias=True)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.zero_()
    x = torch.tensor([[1.0, -2.0], [3.0, 1.0], [-1.0, 1.0]])
    y = torch.tensor([0, 1, 1])
    # zero weights: softmax = (1/2, 1/2); dL/dW[c] = (p_c - [c == y]) x
    # = +-x/2 -> sign(dW[y]) = -sign(x), sign(dW[other]) = +sign(x)
    s = torch.zeros(2, 2)
    for xi, yi in zip(x, y):
        sign = torch.sign(xi)
        s[yi] -= sign
        s[1 - yi] += sign
    expected = float(s.abs().sum())  # only the weight counts (no bias)
    assert expected == 8.0  # s = [[-1, 3], [1, -3]]
    got = gradsign(lin, _batch(x, y, classes=2), _ctx())
    assert got == expected


def test_gradsign_matches_per_sample_loop():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    x = torch.randn(6, 3, 5, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    total = {k: torch.zeros_like(p) for k, p in net.named_parameters()
             if k in ("0.weight", "5.weight")}
    for i in range(6):  # the reference procedure: batch of one, training mode
        net.zero_grad()
        nn.functional.cross_entropy(net(x[i:i + 1]), y[i:i + 1]).backward()
        for k in total:
            total[k] += torch.sign(dict(net.named_parameters())[k].grad)
    expected = float(sum(t.abs().sum() for t in total.values()))
    torch.manual_seed(0)
    net2 = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    ctx = _ctx()
    ctx.chunk_size = 4  # chunks must not change the result
    assert gradsign(net2, _batch(x, y, 3), ctx) == expected


# -- zen ----------------------------------------------------------------------------------------
def test_zen_pre_gap_rules():
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    seq = nn.Sequential(body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    x = torch.randn(2, 3, 6, 6)
    assert torch.equal(pre_gap_features(seq)(x), body(x))  # rule 3: input of the pooling

    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = body
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.body(x).mean((2, 3)))

    assert torch.equal(pre_gap_features(Functional())(x), body(x))  # rule 4
    f = Functional()
    f.pre_gap_module = body[0]  # rule 2: a space-provided module (its output)
    assert torch.equal(pre_gap_features(f)(x), body[0](x))


def test_zen_value_by_hand_on_tiny_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1, bias=False), nn.BatchNorm2d(2), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
    space = ToySpace()
    got = zen(net, _batch(torch.zeros(1, 3, 8, 8)), _ctx(5, space), batch_size=4)
    g = torch.Generator()
    g.manual_seed(5)
    w = torch.empty(2, 3, 3, 3).normal_(generator=g)
    torch.empty(2, 2).normal_(generator=g)  # the Linear weight, drawn second
    x = torch.randn(4, 3, 8, 8, generator=g)
    e = torch.randn(4, 3, 8, 8, generator=g)

    def feat(inp):
        z = nn.functional.conv2d(inp, w, padding=1)
        m = z.mean((0, 2, 3), keepdim=True)
        v = z.var((0, 2, 3), unbiased=False, keepdim=True)
        return torch.relu((z - m) / torch.sqrt(v + 1e-5)), z.var((0, 2, 3), unbiased=True)

    a, v1 = feat(x)
    b, v2 = feat(x + 1e-2 * e)
    running = 0.9 * (0.9 * 1.0 + 0.1 * v1) + 0.1 * v2
    expected = torch.log((a - b).abs().sum((1, 2, 3)).mean()) + torch.log(running.mean().sqrt())
    assert got == pytest.approx(float(expected), rel=1e-4)


# -- te-nas ---------------------------------------------------------------------------------------
def test_te_nas_combine_hand_made_population():
    spec = get_proxy("te-nas")
    leaf = {"ntk": [10.0, 2.0, 5.0, None], "linear-regions": [100.0, 50.0, 300.0, 80.0]}
    got = population_values(spec, leaf)
    # ntk, lower better: ranks (1 = worst) 10 -> 2, 2 -> 4, 5 -> 3, failure -> 1
    # regions, higher better: 100 -> 3, 50 -> 1, 300 -> 4, 80 -> 2
    np.testing.assert_array_equal(got, [5.0, 5.0, 7.0, 3.0])


def test_te_nas_through_evaluate():
    space = NASBench201(C=8, N=1, input_size=8)
    rng = np.random.default_rng(0)
    archs = []
    while len(archs) < 4:
        a = space.sample(rng)
        if a not in archs:
            archs.append(a)
    truth = [(str(a), float(i)) for i, a in enumerate(archs)]
    batch = draw_batch(synthetic_dataset(num_classes=4, n_per_class=8, size=8), 16, 0)
    rep = nasx.evaluate(space, ["te-nas", "ntk", "linear-regions"], truth, sample=None,
                        data=batch, device="cpu", store=False)
    m = rep.metrics["te-nas"]
    assert m["n"] == 4 and m["failed"] == 0 and m["higher_is_better"] is True
    rows = {(a, p): s for a, p, s, _, _ in rep.rows}
    ntk = np.array([rows[(str(a), "ntk")] for a in archs])
    lr = np.array([rows[(str(a), "linear-regions")] for a in archs])
    from scipy.stats import rankdata
    expected = rankdata(-ntk) + rankdata(lr)
    got = np.array([rows[(str(a), "te-nas")] for a in archs])
    np.testing.assert_allclose(got, expected)
