"""Property-based: malformed architecture strings never escape ``space.parse`` as anything but
nasx's own errors.

The full check (``-m slow``) draws 2,000 strings per space for each of three strategies (random
text, mutations of valid strings, JSON-shaped junk): 6,000 per space, derandomised. The default
suite runs the same properties with 150 strings each.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nasx  # noqa: F401
from nasx.api import make_space
from nasx.errors import NasxError
from nasx.registry import spaces

SPACES = sorted(spaces.names())
FULL, QUICK = 2000, 150
SIZES = [pytest.param(QUICK, id="quick"), pytest.param(FULL, id="full", marks=pytest.mark.slow)]


def _settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
_cache: dict[str, tuple[object, list[str]]] = {}


def _space(name: str):
    if name not in _cache:
        sp = make_space(name)
        rng = np.random.default_rng(0)
        valid = [str(sp.sample(rng)) for _ in range(8)]
        _cache[name] = (sp, valid)
    return _cache[name]


def _parse(sp, text: str) -> None:
    try:
        arch = sp.parse(text)
    except NasxError:
        return
    # accepted: it must be a real architecture of the space that round-trips
    assert sp.parse(str(arch)) == arch


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 20) | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=7)
    | st.dictionaries(st.sampled_from(["matrix", "ops", "genotype", "normal", "reduce",
                                       "normal_concat", "reduce_concat", "width", "depth"]),
                      children, max_size=4),
    max_leaves=30,
)


def _mutations(valid: str):
    """Strings near a valid one: characters deleted, replaced, inserted or swapped, slices."""
    n = len(valid)
    return st.one_of(
        st.tuples(st.integers(0, n), st.integers(0, n)).map(
            lambda ij: valid[:min(ij)] + valid[max(ij):]),
        st.tuples(st.integers(0, max(0, n - 1)), st.characters()).map(
            lambda ic: valid[:ic[0]] + ic[1] + valid[ic[0] + 1:]),
        st.tuples(st.integers(0, n), st.text(min_size=1, max_size=5)).map(
            lambda it: valid[:it[0]] + it[1] + valid[it[0]:]),
        st.tuples(st.integers(0, n), st.integers(0, n)).map(lambda ij: valid[ij[0]:ij[1]]),
        st.sampled_from(["-1", "99", "1e9", "nan", "None", "[]", "{}", "''", "\x00", "\\u0000",
                         "~", "|", "+", ",", "(", ")", "[", "]", "{", "}", '"', ":"]).flatmap(
            lambda tok: st.integers(0, n).map(lambda i: valid[:i] + tok + valid[i:])),
    )


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", SPACES)
def test_random_text(name, n):
    sp, _ = _space(name)

    @_settings(n)
    @given(st.text(max_size=200))
    def check(text):
        _parse(sp, text)

    check()


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", SPACES)
def test_mutated_valid_strings(name, n):
    sp, valid = _space(name)

    @_settings(n)
    @given(st.sampled_from(valid).flatmap(_mutations))
    def check(text):
        _parse(sp, text)

    check()


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", SPACES)
def test_json_shaped_junk(name, n):
    sp, _ = _space(name)

    @_settings(n)
    @given(_JSONISH)
    def check(obj):
        _parse(sp, json.dumps(obj))
        _parse(sp, repr(obj))

    check()
