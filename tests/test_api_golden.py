"""Scores, searches and evaluations through the Python API equal the values pinned in
``tests/data/api_golden.json`` (written by ``scripts/make_api_golden.py`` from the code before the
engine was reorganised): NAS-Bench-201, DARTS, NAS-Bench-101 and NDS-ENAS cells scored with
per-model, data-free and population proxies; random, evolution and pruning searches; an
evaluation against an in-memory ground truth.

Floats are compared with a relative tolerance of 1e-3: the sign-counting proxies (gradalign-*)
move by about 1e-4 relative between processes (see ``tests/proxies/test_versions.py``); a change
of behaviour moves values far more.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from api_golden import cases  # noqa: E402

RTOL = 1e-3


@pytest.fixture(scope="module")
def computed():
    return cases()


@pytest.fixture(scope="module")
def pinned():
    return json.loads((HERE / "data" / "api_golden.json").read_text())


def _same(a, b, where):
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool) and isinstance(b, (int, float)):
        assert b == pytest.approx(a, rel=RTOL, abs=1e-12), where
    else:
        assert a == b, where


@pytest.mark.parametrize("part", ["score", "search", "evaluate"])
def test_api_values_unchanged(part, computed, pinned):
    assert pinned[part], "nothing pinned"
    _same(pinned[part], computed[part], part)
