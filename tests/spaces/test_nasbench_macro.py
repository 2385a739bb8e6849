"""Tests of the NAS-Bench-Macro space: the benchmark's parameter counts, notation, enumeration."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasx.errors import ConfigError, InvalidArchError
from nasx.registry import make_space
from nasx.spaces.nasbench_macro import LAYERS, NUM_ARCHS, NASBenchMacro
from nasx.testing import check_space

#: parameter counts published with the benchmark (10 classes)
PUBLISHED = {
    "00000000": 387_882,
    "11111111": 1_588_874,
    "22222222": 2_932_586,
    "01201201": 1_283_434,
    "21012102": 1_710_890,
}


@pytest.fixture(scope="module")
def space() -> NASBenchMacro:
    return NASBenchMacro()


@pytest.mark.parametrize("code", sorted(PUBLISHED))
def test_published_parameter_counts(space, code):
    model = space.build(space.parse(code), 10)
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED[code]


def test_registered_and_contract():
    s = make_space("nasbench-macro", input_size=8)
    assert isinstance(s, NASBenchMacro) and s.input_shape == (3, 8, 8)
    check_space(s, seed=0)
    assert pickle.loads(pickle.dumps(s)).opts == s.opts


def test_forward_and_structure(space):
    a = space.parse("21012102")
    m = space.build(a, 7)
    m.eval()
    with torch.no_grad():
        assert m(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    depthwise = [c for c in m.modules() if isinstance(c, torch.nn.Conv2d) and c.groups > 1]
    # layers 1, 2 (x2: "1", "2"), 0, ... : one depthwise conv per inverted residual
    assert [c.kernel_size[0] for c in depthwise] == [5, 3, 3, 5, 3, 5]
    assert all(c.bias is None for c in m.modules() if isinstance(c, torch.nn.Conv2d))


def test_size_and_enumerate(space):
    assert space.size() == NUM_ARCHS == 3**8 == 6561
    codes = [a.text for a in space.enumerate()]
    assert len(codes) == len(set(codes)) == 6561
    assert codes[0] == "00000000" and codes[-1] == "22222222" and codes == sorted(codes)
    assert [space.index_of(c) for c in ("00000000", "00000012", "22222222")] == [0, 5, 6560]


def test_parse_errors(space):
    for bad in ("0120120", "012012013", "0120120a", "", "0 1201201"):
        with pytest.raises(InvalidArchError, match="8 digits"):
            space.parse(bad)
    with pytest.raises(InvalidArchError, match="code string"):
        space.parse(12012012)  # type: ignore[arg-type]
    assert space.parse(" 01201201\n").text == "01201201"
    with pytest.raises(ConfigError, match="multiple of 8"):
        NASBenchMacro(input_size=12)


def test_neighbors(space):
    a = space.parse("01201201")
    nb = space.neighbors(a)
    assert len(nb) == len(set(nb)) == 2 * LAYERS and a not in nb
    assert all(sum(x != y for x, y in zip(a.text, b.text)) == 1 for b in nb)


@settings(max_examples=50, deadline=None)
@given(st.tuples(*[st.integers(0, 2)] * LAYERS), st.integers(0, 2**32 - 1))
def test_round_trip_and_mutation(digits, seed):
    space = NASBenchMacro()
    a = space.parse("".join(map(str, digits)))
    assert space.parse(str(a)) == a and a.spec == digits
    b = space.mutate(a, np.random.default_rng(seed))
    assert space.parse(str(b)) == b
    assert sum(x != y for x, y in zip(a.spec, b.spec)) == 1


def test_sample_is_uniform_per_layer(space):
    rng = np.random.default_rng(0)
    digits = np.array([space.sample(rng).spec for _ in range(600)])
    counts = np.stack([(digits == d).sum(0) for d in range(3)])
    assert counts.min() > 150  # about 200 of each digit at each layer
    assert len({tuple(r) for r in digits}) > 550
    assert set(itertools.chain.from_iterable(digits.tolist())) == {0, 1, 2}
