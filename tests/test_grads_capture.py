"""The batched per-sample-gradient route (one forward/backward with per-layer capture), the
streaming GradAlign reductions and the batched NTK rows, against explicit loops.

Tolerances: every route computes the same float32 quantities in a different order, so values
agree to float32 rounding carried through the network depth (relative 1e-4 of the largest
gradient). Signs are compared on the entries above 1e-4 of the largest gradient: below that sit
the gradients that are zero in exact arithmetic (e.g. a BatchNorm bias followed by another
BatchNorm), whose float value is rounding noise in every route.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nasx.api import make_space
from nasx.grads import (
    UnsupportedModel,
    _conv_weight_grads,
    capture_per_sample_grads,
    loop_per_sample_grads,
    stream_per_sample_grads,
)
from nasx.proxies.base import ScoreContext
from nasx.proxies.gradalign import SignStatsAccumulator, gradalign
from nasx.proxies.gradsign import gradsign
from nasx.proxies.tenas import ntk_matrix


class _Batch:
    def __init__(self, x, y, c):
        self.x, self.y, self.num_classes = x, y, c


def _captured(model, x, y, **kw):
    out = {}
    capture_per_sample_grads(model, x, y, lambda k, g: out.__setitem__(k, g.clone()), **kw)
    return out


def _assert_same_grads(got, ref):
    scale = max(float(v.abs().max()) for v in ref.values())
    assert scale > 0
    for k, r in ref.items():
        if k not in got:  # never reached by the forward pass: its gradient is zero
            assert float(r.abs().max()) == 0.0, k
            continue
        g = got[k].reshape(r.shape)
        assert float((g - r).abs().max()) <= 1e-4 * scale, k
        big = r.abs() > 1e-4 * scale
        assert torch.equal(torch.sign(g[big]), torch.sign(r[big])), k


@pytest.mark.parametrize("cfg", [
    dict(cin=4, cout=6, k=1),                                   # 1x1: matrix product
    dict(cin=4, cout=6, k=3, padding=1),                        # small map: unfold
    dict(cin=4, cout=6, k=3, padding=1, size=16),               # large map: grouped conv
    dict(cin=4, cout=6, k=3, padding=1, stride=2, size=16),
    dict(cin=4, cout=6, k=3, padding=2, dilation=2, size=16),
    dict(cin=4, cout=4, k=5, padding=2, groups=4),              # depthwise
    dict(cin=4, cout=6, k=3, padding=1, groups=2, stride=2),
    dict(cin=4, cout=4, k=(1, 7), padding=(0, 3)),
    dict(cin=4, cout=4, k=3, padding="same", bias=True),
    dict(cin=4, cout=4, k=3, padding=1, stride=2),              # small map, stride 2
])
def test_conv_weight_grads_every_route(cfg):
    size = cfg.pop("size", 8)
    torch.manual_seed(0)
    conv = nn.Conv2d(cfg.pop("cin"), cfg.pop("cout"), cfg.pop("k"), bias=cfg.pop("bias", False),
                     **cfg)
    x = torch.randn(5, conv.in_channels, size, size)
    out = conv(x)
    gout = torch.randn_like(out)
    got = _conv_weight_grads(conv, x, gout)
    for i in range(5):
        (ref,) = torch.autograd.grad(conv(x[i:i + 1]), [conv.weight], gout[i:i + 1])
        assert torch.allclose(got[i], ref, rtol=1e-4, atol=1e-5)


SPACES = [
    ("nasbench201", dict(C=8, N=1, input_size=8), 8),
    ("darts", dict(C=8, layers=3), 16),
    ("darts", dict(C=8, layers=3, affine=False), 16),
    ("nasbench101", dict(stem_channels=8, stacks=2, cells_per_stack=1), 8),
]


@pytest.mark.parametrize("name,opts,size", SPACES, ids=[f"{s[0]}-{i}" for i, s in
                                                      enumerate(SPACES)])
def test_capture_matches_loop_on_real_cells(name, opts, size):
    space = make_space(name, **opts)
    rng = np.random.default_rng(5)
    for _ in range(2):
        arch = space.sample(rng)
        torch.manual_seed(0)
        model = space.build(arch, 4)
        x = torch.randn(8, 3, size, size, generator=torch.Generator().manual_seed(1))
        y = torch.arange(8) % 4
        _assert_same_grads(_captured(model, x, y), loop_per_sample_grads(model, x, y))


def test_capture_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    model.eval()
    model[0].bias.requires_grad_(False)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    got = _captured(model, torch.randn(6, 3, 8, 8), torch.arange(6) % 3)
    assert "0.bias" not in got and "0.weight" in got  # frozen parameters are not captured
    assert not model.training
    assert [p.requires_grad for p in model.parameters()] == [True, False, True, True, True, True]
    assert "forward" not in vars(model[1])
    assert not model[0]._forward_hooks and not model[1]._forward_hooks
    for k, v in model.state_dict().items():  # running statistics untouched
        assert torch.equal(v, state[k]), k
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("model", [
    nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.BatchNorm1d(5), nn.Linear(5, 3)),
    nn.Sequential(nn.Flatten(), nn.Linear(12, 3), nn.LayerNorm(3)),
])
def test_unsupported_models_fall_back_to_vmap(model):
    x, y = torch.randn(6, 3, 2, 2), torch.arange(6) % 3
    with pytest.raises(UnsupportedModel):
        capture_per_sample_grads(model, x, y, lambda k, g: None)
    if any(isinstance(m, nn.BatchNorm1d) for m in model.modules()):
        return  # a batch of one has no BatchNorm1d statistics: only the error matters
    got = {}
    used = stream_per_sample_grads(model, x, y, lambda k, g: got.__setitem__(k, g.clone()))
    assert used == "vmap"
    _assert_same_grads(got, loop_per_sample_grads(model, x, y))


def test_shared_module_is_refused_by_capture():
    lin = nn.Linear(4, 4)
    model = nn.Sequential(lin, nn.ReLU(), lin, nn.Linear(4, 2))
    with pytest.raises(UnsupportedModel, match="more than once"):
        capture_per_sample_grads(model, torch.randn(4, 4), torch.arange(4) % 2,
                                 lambda k, g: None)


def test_vmap_route_in_parameter_groups_equals_one_group():
    space = make_space("nasbench201", C=8, N=1, input_size=8)
    torch.manual_seed(0)
    model = space.build(space.sample(np.random.default_rng(1)), 4)
    x, y = torch.randn(8, 3, 8, 8), torch.arange(8) % 4
    one, many = {}, {}
    stream_per_sample_grads(model, x, y, lambda k, g: one.__setitem__(k, g), method="vmap")
    stream_per_sample_grads(model, x, y, lambda k, g: many.__setitem__(k, g), method="vmap",
                            memory_budget=512)  # a handful of parameters per pass
    assert one.keys() == many.keys()
    for k in one:
        assert torch.equal(one[k], many[k])


def _sorted_grads(seed=0, n=12, p=300, classes=(0, 0, 0, 1, 1, 1, 1, 2, 3, 3, 3, 3)):
    g = torch.Generator().manual_seed(seed)
    y = torch.tensor(classes)
    blocks = [torch.randn(n, q, generator=g) for q in (p, 7, 1, 50, 2 * p)]
    blocks[1][:, :3] = 0.0  # gradient-free entries: sign 0
    return y, blocks


@pytest.mark.parametrize("kw", [dict(block=16, direct=10 ** 9), dict(block=64, direct=40),
                                dict(block=1 << 20, direct=1), dict(full_gram=True, block=33)])
def test_accumulator_is_exact_whatever_the_blocking(kw):
    y, blocks = _sorted_grads()
    ref = SignStatsAccumulator(y, block=1 << 20, direct=1 << 30, full_gram=False)
    acc = SignStatsAccumulator(y, **kw)
    for i, b in enumerate(blocks):
        ref.add(str(i), b.clone())
        acc.add(str(i), b.clone())
    a, r = acc.finish(), ref.finish()
    assert [s["class"] for s in a] == [0, 1, 3]  # class 2 has a single sample
    for sa, sr in zip(a, r):
        assert sa["align"] == sr["align"] and sa["nnz"] == sr["nnz"]
        assert torch.equal(sa["gram"], sr["gram"])
    # and equal to the definition computed directly in float64
    full = torch.cat(blocks, 1).double()
    for s in a:
        g = full[y == s["class"]]
        sg, m = torch.sign(g), torch.sign(g.sum(0))
        assert s["align"] == float((sg @ m).sum())
        assert torch.equal(s["gram"], sg @ sg.T)


def test_accumulator_needs_sorted_classes():
    with pytest.raises(ValueError, match="sorted"):
        SignStatsAccumulator(torch.tensor([0, 1, 0, 1]))


def _ctx(method="auto", chunk=None):
    return ScoreContext(device=torch.device("cpu"), seed=0, num_classes=4, grad_method=method,
                        chunk_size=chunk)


@pytest.fixture(scope="module")
def cell():
    space = make_space("nasbench201", C=8, N=1, input_size=8)
    torch.manual_seed(0)
    model = space.build(space.parse(
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
    ), 4)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(16, 3, 8, 8, generator=g)
    y = torch.randperm(16, generator=g) % 4  # classes interleaved: sorting is the proxy's job
    return model, _Batch(x, y, 4)


@pytest.mark.parametrize("variant", ["i", "ii", "i-frac", "ii-norm"])
def test_gradalign_same_by_every_route_and_chunking(cell, variant):
    # Relative 1e-3: the reductions are exact, but GradAlign takes the sign of gradients that
    # are zero in exact arithmetic (a BatchNorm bias feeding a BatchNorm), whose float value is
    # rounding noise that differs between routes and batch compositions; each such entry moves
    # a class's count by at most 2 per sample out of ~10^4 counted entries in this cell.
    model, batch = cell
    ref = gradalign(model, batch, _ctx("vmap"), variant)
    assert gradalign(model, batch, _ctx("capture"), variant) == pytest.approx(ref, rel=1e-3)
    assert gradalign(model, batch, _ctx("auto", chunk=5), variant) == pytest.approx(ref, rel=1e-3)


def test_gradalign_routes_report_what_they_used(cell):
    model, batch = cell
    ctx = _ctx()
    gradalign(model, batch, ctx, "i")
    assert ctx.cache["gradalign.method"] == "capture"


def test_gradsign_capture_equals_the_per_sample_loop(cell):
    model, batch = cell
    ref = loop_per_sample_grads(model, batch.x, batch.y)
    names = [k for k in ref if k.endswith(".weight") and ref[k].dim() in (3, 5)]
    expected = sum(float(torch.sign(ref[k]).sum(0).abs().sum()) for k in names)
    assert gradsign(model, batch, _ctx("capture")) == pytest.approx(expected, rel=1e-3)
    assert gradsign(model, batch, _ctx("vmap")) == pytest.approx(expected, rel=1e-3)
    assert gradsign(model, batch, _ctx("auto", chunk=3)) == pytest.approx(
        gradsign(model, batch, _ctx("auto")), rel=1e-5)


def test_ntk_batched_rows_equal_one_backward_per_row(cell):
    model, batch = cell
    x = batch.x
    model.train()
    out = model(x).reshape(len(x), -1).sum(1)
    params = [p for n, p in model.named_parameters() if "weight" in n]
    rows = []
    for i in range(len(x)):
        gs = torch.autograd.grad(out[i], params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([g.reshape(-1) for g in gs if g is not None]))
    jac = torch.stack(rows).double()
    ref = jac @ jac.T
    for rows_per_pass in (None, 5, 1):
        got = ntk_matrix(model, x, rows_per_pass=rows_per_pass)
        assert torch.allclose(got, ref, rtol=1e-5, atol=1e-6 * float(ref.abs().max()))


def test_ntk_falls_back_to_one_backward_per_row_without_a_batching_rule(cell, monkeypatch):
    model, batch = cell
    x = batch.x
    expected = ntk_matrix(model, x)
    real_grad = torch.autograd.grad
    batched_calls = []

    def no_batching_rule(*args, **kwargs):
        if kwargs.get("is_grads_batched"):
            batched_calls.append(1)
            raise RuntimeError("Batching rule not implemented for aten::some_op")
        return real_grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", no_batching_rule)
    got = ntk_matrix(model, x, rows_per_pass=3)
    assert batched_calls  # the batched route was tried, and every pass fell back
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6 * float(expected.abs().max()))


def test_forced_route_goes_into_the_key_and_reaches_the_proxy():
    import warnings

    from nasx.api import ScoreService
    from nasx.data import draw_batch, synthetic_dataset
    from nasx.errors import ConfigError
    from nasx.proxies.base import get_proxy
    from nasx.scoring import Scorer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = draw_batch(synthetic_dataset(num_classes=4, n_per_class=4, size=8), 16, 0)
    space = make_space("nasbench201", C=8, N=1, input_size=8)
    spec = get_proxy("gradalign-i")
    arch = space.sample(np.random.default_rng(0))
    keys = {m: ScoreService(space, [spec], batch, device="cpu", grad_method=m).key(arch, spec)
            for m in ("auto", "capture", "vmap")}
    assert len(set(keys.values())) == 3
    assert "grad_method" not in keys["auto"].scoring  # the default keeps earlier keys valid
    seen = []

    def spy(model, batch, ctx, **opts):
        seen.append(ctx.grad_method)
        return 1.0

    from dataclasses import replace

    Scorer(space, batch, device="cpu", grad_method="vmap").score(arch, replace(spec, fn=spy))
    assert seen == ["vmap"]
    with pytest.raises(ConfigError, match="per-sample gradient method"):
        Scorer(space, batch, device="cpu", grad_method="jvp")
