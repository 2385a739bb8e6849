"""DARTS genotypes outside the search space, as the DARTS reference network builds them (space
option ``allow_none``): ``none`` ops (the reference ``Zero`` op) and nodes taking one input
twice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasx.errors import InvalidArchError
from nasx.spaces._cell_ops import Zero
from nasx.spaces.darts import DARTS_V1, DARTS_V2, DartsSpace

TINY = {"C": 8, "layers": 3, "input_size": 8}
#: DARTS-V2 with its dil_conv_3x3 (normal node 5, input 2) replaced by none
WITH_NONE = DARTS_V2.replace("('dil_conv_3x3', 2)", "('none', 2)")
#: DARTS-V2 with a none on a stride-2 edge of the reduction cell (node 2, input 1)
WITH_NONE_STRIDED = DARTS_V2.replace("('max_pool_3x3', 1), ('skip_connect', 2)",
                                     "('none', 1), ('skip_connect', 2)", 1)
#: DARTS-V2 whose normal node 5 reads input 0 twice, and reduction node 2 input 0 twice
SAME_INPUT = DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 0)").replace(
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)", "reduce=[('max_pool_3x3', 0), "
    "('sep_conv_3x3', 0)")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def loose() -> DartsSpace:
    return DartsSpace(**TINY, allow_none=True)


def test_the_variants_differ_from_darts_v2():
    assert len({DARTS_V2, WITH_NONE, WITH_NONE_STRIDED, SAME_INPUT}) == 4


@pytest.mark.parametrize(("text", "problem"), [(WITH_NONE, "allow_none=true"),
                                                (SAME_INPUT, "takes input 0 twice")])
def test_rejected_without_the_option(text, problem):
    with pytest.raises(InvalidArchError, match=problem):
        DartsSpace(**TINY).parse(text)


@pytest.mark.parametrize("text", [WITH_NONE, WITH_NONE_STRIDED, SAME_INPUT])
def test_parse_round_trip_and_canonical(loose, text):
    a = loose.parse(text)
    assert loose.parse(str(a)) == a
    assert loose.from_json(loose.to_json(a)) == a


@pytest.mark.parametrize("text", [WITH_NONE, WITH_NONE_STRIDED, SAME_INPUT])
def test_build_forward_backward(loose, text):
    torch.manual_seed(0)
    model = loose.build(loose.parse(text), 10)
    x = torch.randn(2, *loose.input_shape)
    out = model(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.sum().backward()


def test_none_is_the_zero_op_with_the_right_shape(loose):
    model = loose.build(loose.parse(WITH_NONE_STRIDED), 10)
    reduce_cell = model.cells[1]
    zeros = [(k, op) for k, op in enumerate(reduce_cell.ops) if isinstance(op, Zero)]
    assert len(zeros) == 1
    k, op = zeros[0]
    assert reduce_cell.inputs[k] == 1 and op.stride == 2
    x = torch.randn(2, 8, 8, 8)
    y = op(x)
    assert y.shape == (2, 8, 4, 4) and torch.count_nonzero(y) == 0
    # stride 1 in a normal cell
    normal = loose.build(loose.parse(WITH_NONE), 10).cells[0]
    z = next(op for op in normal.ops if isinstance(op, Zero))
    assert z.stride == 1 and z(x).shape == x.shape


def test_same_input_twice_applies_both_ops_to_it(loose):
    model = loose.build(loose.parse(SAME_INPUT), 10)
    normal = model.cells[0]
    assert normal.inputs[6] == normal.inputs[7] == 0  # node 5 of the normal cell
    assert normal.ops[6] is not normal.ops[7]


def test_none_removes_exactly_the_replaced_op_parameters(loose):
    """The none op has no parameters: the network loses the replaced op's parameters only,
    in every normal cell."""
    base = loose.build(loose.parse(DARTS_V2), 10)
    cut = loose.build(loose.parse(WITH_NONE), 10)
    k = loose.parse(DARTS_V2).spec[0].index(("dil_conv_3x3", 2))
    reductions = (TINY["layers"] // 3, 2 * TINY["layers"] // 3)
    removed = sum(n_params(c.ops[k]) for i, c in enumerate(base.cells) if i not in reductions)
    assert removed > 0
    assert n_params(cut) == n_params(base) - removed


@pytest.mark.parametrize("text", [DARTS_V1, DARTS_V2])
def test_space_genotypes_build_the_same_network_with_the_option(text):
    strict, loose = DartsSpace(C=32, layers=8, affine=False), \
        DartsSpace(C=32, layers=8, affine=False, allow_none=True)
    assert strict.parse(text) == loose.parse(text)
    with torch.device("meta"):
        a = strict.build(strict.parse(text), 10)
        b = loose.build(loose.parse(text), 10)
    assert [(n, p.shape) for n, p in a.named_parameters()] == \
        [(n, p.shape) for n, p in b.named_parameters()]


def test_sampling_and_mutation_keep_to_the_space(loose):
    strict = DartsSpace(**TINY)
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = loose.sample(rng)
        strict.parse(str(a))  # in the space
        strict.parse(str(loose.mutate(a, rng)))
    b = loose.parse(WITH_NONE)
    # mutation adds no new none op and no new repeated input
    for n in loose.neighbors(b):
        assert str(n).count("'none'") <= 1
