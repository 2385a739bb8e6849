"""Probe batches (nasx.data.batch): a batch's clone shares no memory with it, and images below
the minimum side are never resized."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasx import data as D
from nasx.errors import DataError


def _dataset(side):
    x = np.random.default_rng(0).integers(0, 256, (16, side, side, 3), dtype=np.uint8)
    return D.ProbeDataset(x, np.arange(16) % 4, 4, "mem", (0.5,) * 3, (0.25,) * 3)


def test_clone_is_independent():
    b = D.draw_batch(_dataset(8), 8, 0)
    c = b.clone()
    assert c.fingerprint == b.fingerprint and c.indices == b.indices
    c.x.add_(1.0)
    c.y.fill_(3)
    assert not torch.equal(c.x, b.x) and not torch.equal(c.y, b.y)


def test_tiny_in_memory_images_are_not_resized():
    ds = _dataset(2)
    assert tuple(D.draw_batch(ds, 8, 0).x.shape) == (8, 3, 2, 2)  # used as they are
    with pytest.raises(DataError, match="2x2 pixels would be resized to 32x32"):
        D.draw_batch(ds, 8, 0, input_size=32)
