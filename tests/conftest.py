"""Shared test helpers.

Real public data (NAS-Bench-201 tables, CIFAR-10 probe batches) lives outside the repository, in
``../shared/data`` relative to the repository root, or wherever ``NASX_SHARED_DATA`` points.
Tests that need it skip cleanly when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

try:  # two cores shared by the whole suite: one torch thread is fastest and deterministic
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - strategies are testable without torch
    pass

_REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data(*parts: str) -> Path:
    """The shared data folder (or a file/folder inside it); skip the test when it is absent.

    Example:
        ``csv = shared_data("nasbench201", "accuracies.csv")``
    """
    root = Path(os.environ.get("NASX_SHARED_DATA", _REPO_ROOT / ".." / "shared" / "data"))
    path = root.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"shared data {path} not found; set NASX_SHARED_DATA to the folder holding "
            "nasbench201/, cifar10/, ... (default: ../shared/data next to the repository)"
        )
    return path


@pytest.fixture
def shared_data_dir() -> Path:
    """Fixture form of :func:`shared_data` (the folder itself)."""
    return shared_data()


@pytest.fixture(scope="session")
def batch():
    """A small class-balanced probe batch of synthetic 8x8 images (4 classes, 16 images), for
    tests of the engine that need no real data."""
    import warnings

    from nasx.data import draw_batch, synthetic_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = synthetic_dataset(num_classes=4, n_per_class=8, size=8)
    return draw_batch(ds, 16, 0)
