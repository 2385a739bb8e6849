"""Tests of the NDS families: notation (genotype + width + depth), sampling and pycls networks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasx.errors import ConfigError, InvalidArchError
from nasx.spaces.darts import DARTS_V2, DartsSpace
from nasx.spaces.nds import (
    FAMILIES,
    NDSAmoeba,
    NDSDarts,
    NDSDartsFixWD,
    NDSEnas,
    NDSNasnet,
    NDSPnas,
    NDSSpace,
    loose_ends,
)
from nasx.testing import check_space

SAMPLED = (NDSDarts, NDSEnas, NDSPnas, NDSNasnet, NDSAmoeba)
SMALL = {"widths": "8", "depths": "2,3", "input_size": 8}

# published cells (quark0/darts cnn/genotypes.py), members of the NDS NASNet and Amoeba families
NASNET = {
    "normal": [["sep_conv_5x5", 1], ["sep_conv_3x3", 0], ["sep_conv_5x5", 0],
               ["sep_conv_3x3", 0], ["avg_pool_3x3", 1], ["skip_connect", 0],
               ["avg_pool_3x3", 0], ["avg_pool_3x3", 0], ["sep_conv_3x3", 1],
               ["skip_connect", 1]],
    "normal_concat": [2, 3, 4, 5, 6],
    "reduce": [["sep_conv_5x5", 1], ["sep_conv_7x7", 0], ["max_pool_3x3", 1],
               ["sep_conv_7x7", 0], ["avg_pool_3x3", 1], ["sep_conv_5x5", 0],
               ["skip_connect", 3], ["avg_pool_3x3", 2], ["sep_conv_3x3", 2],
               ["max_pool_3x3", 1]],
    "reduce_concat": [4, 5, 6],
}
AMOEBA = {
    "normal": [["avg_pool_3x3", 0], ["max_pool_3x3", 1], ["sep_conv_3x3", 0],
               ["sep_conv_5x5", 2], ["sep_conv_3x3", 0], ["avg_pool_3x3", 3],
               ["sep_conv_3x3", 1], ["skip_connect", 1], ["skip_connect", 0],
               ["avg_pool_3x3", 1]],
    "normal_concat": [4, 5, 6],
    "reduce": [["avg_pool_3x3", 0], ["sep_conv_3x3", 1], ["max_pool_3x3", 0],
               ["sep_conv_7x7", 2], ["sep_conv_7x7", 0], ["avg_pool_3x3", 1],
               ["max_pool_3x3", 0], ["max_pool_3x3", 1], ["conv_7x1_1x7", 0],
               ["sep_conv_3x3", 5]],
    "reduce_concat": [3, 4, 6],
}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("cls", SAMPLED)
def test_check_space(cls: type[NDSSpace]) -> None:
    check_space(cls(**SMALL), seed=0)


def test_check_space_fixed() -> None:
    check_space(NDSDartsFixWD(width=8, depth=3, input_size=8), seed=1)


def test_registered() -> None:
    from nasx.registry import spaces

    names = {"nds-darts", "nds-darts-fix-w-d", "nds-enas", "nds-pnas", "nds-nasnet",
             "nds-amoeba"}
    assert names <= set(spaces.names("nds-*"))
    assert spaces.get("nds-amoeba") is NDSAmoeba


def test_family_definitions() -> None:
    sizes = {f: (len(ops), nodes, out) for f, (ops, nodes, out) in FAMILIES.items()}
    assert sizes == {"nasnet": (13, 5, "loose"), "amoeba": (8, 5, "loose"),
                     "pnas": (8, 5, "all"), "enas": (5, 5, "loose"), "darts": (8, 4, "all")}
    # the NDS paper's cell counts (billions): ordered inputs with repetition, per cell
    def cells(f: str) -> float:
        ops, nodes, _ = FAMILIES[f]
        wirings = 1
        for j in range(2, 2 + nodes):
            wirings *= j * j
        return wirings * len(ops) ** (2 * nodes) / 1e9

    paper = {"nasnet": 71_465_842, "amoeba": 556_628, "pnas": 556_628, "enas": 5_063,
             "darts": 242}
    for family, count in paper.items():
        assert abs(cells(family) - count) <= 0.5, family
    from nasx.spaces import _cell_ops

    assert all(op in _cell_ops.CELL_OPS for ops, _, _ in FAMILIES.values() for op in ops)


def test_published_cells_parse_with_their_concat() -> None:
    for cls, geno in ((NDSNasnet, NASNET), (NDSAmoeba, AMOEBA)):
        space = cls(input_size=8)
        a = space.from_json({"genotype": geno, "width": 8, "depth": 3})
        assert space.to_json(a)["genotype"]["normal_concat"] == geno["normal_concat"]
        assert space.to_json(a)["genotype"]["reduce_concat"] == geno["reduce_concat"]
        assert space.parse(str(a)) == a
        # the NDS files' layout: fields under "net"
        nested = json.dumps({"net": {"genotype": geno, "width": 8, "depth": 3, "aux": False}})
        assert space.parse(nested) == a
        out = space.build(a, 10).eval()(torch.randn(2, 3, 8, 8))
        assert out.shape == (2, 10)


def test_loose_ends() -> None:
    assert loose_ends([("x", 0), ("x", 1), ("x", 2), ("x", 2)]) == (3,)
    assert loose_ends([(p[0], p[1]) for p in AMOEBA["reduce"]]) == (3, 4, 6)


def test_width_and_depth_are_identity() -> None:
    space = NDSDarts(input_size=8)
    geno = space.to_json(space.sample(np.random.default_rng(0)))["genotype"]
    a = space.from_json({"genotype": geno, "width": 16, "depth": 8})
    b = space.from_json({"genotype": geno, "width": 24, "depth": 8})
    c = space.from_json({"genotype": geno, "width": 16, "depth": 12})
    assert len({a, b, c}) == 3 and len({a.key, b.key, c.key}) == 3
    assert dict(a.meta) == {"width": 16, "depth": 8}
    # width and depth reach the network
    model = space.build(c, 10)
    assert len(model.cells) == 12 and model.stem[0].out_channels == 48


def test_genotype_string_inside_json() -> None:
    space = NDSDarts()
    text = json.dumps({"genotype": DARTS_V2, "width": 16, "depth": 8})
    a = space.parse(text)
    assert json.loads(str(a)) == {"genotype": str(DartsSpace().parse(DARTS_V2)),
                                  "width": 16, "depth": 8}
    assert space.parse(str(a)) == a and space.from_json(space.to_json(a)) == a


def test_darts_families_share_the_darts_network() -> None:
    """pycls's NetworkCIFAR is DARTS's: DARTS-V2 at width 36, depth 20 has 3,349,342 params."""
    space = NDSDartsFixWD(width=36, depth=20)
    a = space.parse(DARTS_V2)  # a bare genotype is accepted where width and depth are fixed
    with torch.device("meta"):
        assert n_params(space.build(a, 10)) == 3_349_342


def test_pycls_factorized_reduce_handles_odd_sizes() -> None:
    space = NDSEnas(widths="8", depths="3", input_size=9)
    a = space.sample(np.random.default_rng(0))
    assert space.build(a, 5).eval()(torch.randn(2, 3, 9, 9)).shape == (2, 5)
    torch.manual_seed(0)
    even = space.build(a, 5).eval()
    torch.manual_seed(0)
    darts_like = space.build(a, 5).eval()
    for m in darts_like.modules():  # padding changes nothing on even sizes
        if type(m).__name__ == "FactorizedReduce":
            m.pad = False
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(even(x), darts_like(x), atol=1e-6)


@pytest.mark.parametrize(
    ("cls", "obj", "problem"),
    [
        (NDSEnas, {"genotype": NASNET, "width": 8, "depth": 3}, "not in the enas op set"),
        (NDSNasnet, {"genotype": {**NASNET, "reduce_concat": [2, 3, 4, 5, 6]}, "width": 8,
                     "depth": 3}, "is not the nasnet output (loose ends: [4, 5, 6])"),
        (NDSPnas, {"genotype": AMOEBA, "width": 8, "depth": 3},
         "is not the pnas output (all intermediate nodes: [2, 3, 4, 5, 6])"),
        (NDSNasnet, {"genotype": NASNET, "depth": 3}, "no 'width' field"),
        (NDSNasnet, {"genotype": NASNET, "width": 0, "depth": 3}, "positive integer"),
        (NDSNasnet, {"genotype": NASNET, "width": 8, "depth": 3, "lr": 1}, "unknown field"),
        (NDSDartsFixWD, {"genotype": DARTS_V2, "width": 32, "depth": 20},
         "differs from this space's fixed width 16"),
        (NDSDarts, {"genotype": NASNET, "width": 8, "depth": 3}, "a cell of 4 intermediate"),
        (NDSDarts, {"width": 8}, "no 'genotype' field"),
    ],
)
def test_rejects(cls: type[NDSSpace], obj: dict, problem: str) -> None:
    space = cls()
    with pytest.raises(InvalidArchError) as info:
        space.parse(json.dumps(obj))
    assert problem in str(info.value)


def test_rejects_text() -> None:
    with pytest.raises(InvalidArchError, match="not a JSON object"):
        NDSDarts().parse(DARTS_V2)  # width and depth vary: they must be given
    with pytest.raises(InvalidArchError, match="not valid JSON"):
        NDSDarts().parse("{oops")
    with pytest.raises(ConfigError, match="distinct positive integers"):
        NDSDarts(widths="16,16")
    with pytest.raises(ConfigError, match="comma-separated integers"):
        NDSDarts(depths="a,b")


def test_sampling_covers_ranges_and_repeats() -> None:
    space = NDSEnas()
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(300)]
    specs = [a.spec for a in archs]
    assert {w for _, w, _ in specs} == {16, 24, 32}
    assert {d for _, _, d in specs} == {4, 8, 12, 16, 20}
    assert {op for g, _, _ in specs for op, _ in g[0]} == set(FAMILIES["enas"][0])
    # inputs are drawn with repetition: some node takes the same input twice
    assert any(g[0][k][1] == g[0][k + 1][1] for g, _, _ in specs for k in range(0, 10, 2))
    assert {len(g[1]) for g, _, _ in specs} != {5}  # loose ends vary


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SAMPLED + (NDSDartsFixWD,)), st.integers(0, 2**32 - 1),
       st.integers(0, 2**32 - 1))
def test_round_trip_and_mutate_are_valid(cls: type[NDSSpace], seed: int, mseed: int) -> None:
    space = cls()
    a = space.sample(np.random.default_rng(seed))
    assert space.parse(str(a)) == a and space.from_json(space.to_json(a)) == a
    b = space.mutate(a, np.random.default_rng(mseed))
    assert b != a and space.parse(str(b)) == b
    assert b == space.mutate(a, np.random.default_rng(mseed))
    assert b in set(space.neighbors(a))


def test_neighbors_count() -> None:
    space = NDSEnas()
    a = space.sample(np.random.default_rng(1))
    nbrs = space.neighbors(a)
    # 2 cells x 10 slots x (4 other ops) + inputs: sum over nodes 2..6 of 2 x (j - 1) per cell,
    # + 2 other widths + 4 other depths
    expected = 2 * 10 * 4 + 2 * sum(2 * (j - 1) for j in range(2, 7)) + 2 + 4
    assert len(set(nbrs)) == len(nbrs) <= expected
    assert len(nbrs) >= expected - 20  # only rewirings onto a node's other input can coincide
    fixed = NDSDartsFixWD()
    f = fixed.sample(np.random.default_rng(1))
    assert all(b.spec[1:] == (16, 20) for b in fixed.neighbors(f))
