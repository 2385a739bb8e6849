"""Scores, searches and evaluations through the Python API equal the values pinned in
``tests/data/api_golden.json`` (written by ``scripts/make_api_golden.py`` from the code before the
engine was reorganised): NAS-Bench-201, DARTS, NAS-Bench-101 and NDS-ENAS cells scored with
per-model, data-free and population proxies; random, evolution and pruning searches; an
evaluation against an in-memory ground truth.

Float tolerances, derived from float32 arithmetic (the values move with the CPU's kernels: a
kernel's vector width and blocking set the float32 summation order; on one machine torch 2.13 and
2.14 give identical values):

* Continuous values (naswot, synflow, snip, metrics) are float32 sums over at most P < 2**16
  terms (the parameter count of these networks, asserted), whose rounding error grows like
  sqrt(P) * eps32; ``RTOL = 8 * sqrt(2**16) * eps32`` (about 2.4e-4) leaves a factor 8 for the
  layers the error passes through.
* The sign-counting proxies (gradalign-*) are exact integer counts of the signs of the per-sample
  gradient components, except for components whose gradient is analytically zero and computed as
  rounding noise of either sign (e.g. BatchNorm's affine weight, normalised per sample, ahead of
  global average pooling: its gradient sum_pos(g * xhat) = g * sum_pos(xhat) = 0). The test
  counts Z, the components of each cell that are non-zero but at the float32 noise floor (no
  larger than sqrt(P) * eps32 times the sample's largest component) in some sample (an exact
  zero is a product with an exact zero: a ``none`` edge, a unit ReLU switched off, zero padding;
  it is zero whatever the summation order); each can move
  GradAlign-I by at most 2 (per class, sum_i s_ij m_j / N_c lies in [-1, 1]), so the pin holds
  within ``2 * Z``. GradAlign-II (a log-determinant) has no such bound without the Gram
  matrices: it is compared at ``RTOL`` where Z = 0 and otherwise checked to be a finite score.
  On the 8x8 DARTS and NDS cells most components are at the floor, so their GradAlign pins
  constrain little; the continuous proxies pin those cells.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from api_golden import SPACES, cases  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)
MAX_TERMS = 2**16
RTOL = 8 * math.sqrt(MAX_TERMS) * EPS32
SIGN_COUNTING = ("gradalign-i", "gradalign-ii")


@pytest.fixture(scope="module")
def computed():
    return cases()


@pytest.fixture(scope="module")
def pinned():
    return json.loads((HERE / "data" / "api_golden.json").read_text())


def _noise_components(space: str, opts: dict, text: str) -> int:
    """Components of the cell's per-sample gradients that are non-zero and at the float32 noise
    floor in some sample (on a batch like the pinned one: 8 samples of 4 classes)."""
    from nasx.api import make_space
    from nasx.grads import stream_per_sample_grads

    sp = make_space(space, **opts)
    torch.manual_seed(0)
    net = sp.build(sp.parse(text), num_classes=4)
    size = int(opts["input_size"])
    x = torch.rand(8, 3, size, size)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    parts: list[torch.Tensor] = []
    stream_per_sample_grads(net, x, y, lambda k, g: parts.append(g.detach().clone()))
    g = torch.cat(parts, 1)
    p = g.shape[1]
    assert p < MAX_TERMS, "RTOL assumes fewer than 2**16 parameters"
    floor = math.sqrt(p) * EPS32 * g.abs().amax(1, keepdim=True)
    a = g.abs()
    return int(((a > 0) & (a <= floor)).any(0).sum())


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


def _same_scores(pinned_rows, rows, space, where):
    assert len(pinned_rows) == len(rows), where
    opts = next(o for s, o, _, _ in SPACES if s == space)
    noise: dict[str, int] = {}
    for i, (a, b) in enumerate(zip(pinned_rows, rows)):
        w = f"{where}[{i}]"
        if a["proxy"] not in SIGN_COUNTING or a["value"] is None:
            _same(a, b, w)
            continue
        _same({k: v for k, v in a.items() if k != "value"},
              {k: v for k, v in b.items() if k != "value"}, w)
        if a["arch"] not in noise:
            noise[a["arch"]] = _noise_components(space, opts, a["arch"])
        z = noise[a["arch"]]
        assert b["value"] is not None and math.isfinite(b["value"]), w
        if z == 0:
            _same(a["value"], b["value"], w)
        elif a["proxy"] == "gradalign-i":
            assert abs(b["value"] - a["value"]) <= 2 * z, (w, z)


@pytest.mark.parametrize("part", ["score", "search", "evaluate"])
def test_api_values_unchanged(part, computed, pinned):
    assert pinned[part], "nothing pinned"
    if part != "score":
        _same(pinned[part], computed[part], part)
        return
    assert sorted(pinned[part]) == sorted(computed[part])
    for space in pinned[part]:
        _same_scores(pinned[part][space], computed[part][space], space, f"{part}.{space}")
