"""Training data: held-out splits, CIFAR test splits, augmentation in torch."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from nasx.errors import DataError
from nasx.training.data import augment, holdout_split, load_train_data, normalise


def _npz(path, n_per_class=10, classes=3, size=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n_per_class * classes, size, size, 3), dtype=np.uint8)
    y = np.repeat(np.arange(classes), n_per_class)
    np.savez(path, x=x, y=y)
    return path


def test_holdout_split_is_stratified_seeded_and_disjoint():
    y = np.repeat(np.arange(4), [10, 20, 5, 2])
    kept, held = holdout_split(y, 0.2, 0)
    assert set(kept).isdisjoint(held) and len(kept) + len(held) == len(y)
    assert [int((y[held] == c).sum()) for c in range(4)] == [2, 4, 1, 1]
    again = holdout_split(y, 0.2, 0)
    assert np.array_equal(again[1], held)
    assert not np.array_equal(holdout_split(y, 0.2, 1)[1], held)


def test_npz_holdout_and_test_data(tmp_path):
    f = _npz(tmp_path / "a.npz")
    d = load_train_data(f, holdout=0.2, split_seed=3)
    assert len(d.train_y) == 24 and len(d.eval_y) == 6 and "holdout 0.2" in d.eval_name
    assert d.fingerprint != load_train_data(f, holdout=0.2, split_seed=4).fingerprint
    t = _npz(tmp_path / "t.npz", n_per_class=2, seed=1)
    d2 = load_train_data(f, test_data=t)
    assert len(d2.train_y) == 30 and len(d2.eval_y) == 6 and "test data" in d2.eval_name
    with pytest.raises(DataError, match="no test split"):
        load_train_data(f, eval_split="test")
    small = _npz(tmp_path / "s.npz", n_per_class=2, size=16, seed=2)
    with pytest.raises(DataError, match="must match"):
        load_train_data(f, test_data=small)


def test_cifar_python_folder_uses_its_test_batch(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, n in [(f"data_batch_{i}", 20) for i in range(1, 6)] + [("test_batch", 10)]:
        d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"labels": [int(v) for v in np.arange(n) % 10]}
        (folder / name).write_bytes(pickle.dumps(d))
    d = load_train_data(folder)
    assert (len(d.train_y), len(d.eval_y), d.num_classes) == (100, 10, 10)
    assert d.eval_name == "test split"
    h = load_train_data(folder, eval_split="holdout", holdout=0.1)
    assert (len(h.train_y), len(h.eval_y)) == (90, 10)


def test_augment_is_seeded_and_does_what_it_says():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (6, 8, 8, 3), dtype=torch.uint8)
    mean, std = torch.tensor([0.5, 0.4, 0.3]), torch.tensor([0.2, 0.25, 0.3])
    plain = normalise(x, mean, std)
    assert torch.equal(augment(x, mean, std, g, padding=0, flip=False, cutout=0), plain)
    a = augment(x, mean, std, torch.Generator().manual_seed(1), padding=2, flip=True, cutout=4)
    b = augment(x, mean, std, torch.Generator().manual_seed(1), padding=2, flip=True, cutout=4)
    assert torch.equal(a, b) and a.shape == (6, 3, 8, 8)
    # flip only: every image is itself or its mirror
    f = augment(x, mean, std, torch.Generator().manual_seed(2), padding=0, flip=True, cutout=0)
    for i in range(6):
        assert torch.equal(f[i], plain[i]) or torch.equal(f[i], plain[i].flip(2))
    # crop only: every image is a shifted window of the zero-padded image
    c = augment(x, mean, std, torch.Generator().manual_seed(3), padding=2, flip=False, cutout=0)
    pad = torch.nn.functional.pad(x.permute(0, 3, 1, 2).float() / 255, (2, 2, 2, 2))
    pad = (pad - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    for i in range(6):
        assert any(torch.allclose(c[i], pad[i, :, dy:dy + 8, dx:dx + 8])
                   for dy in range(5) for dx in range(5))
    # cutout only: a zeroed square of at most 4x4, at least 2x2, the rest unchanged
    k = augment(x, mean, std, torch.Generator().manual_seed(4), padding=0, flip=False, cutout=4)
    for i in range(6):
        changed = (k[i] != plain[i]).any(0)
        assert (k[i][:, changed] == 0).all() and 4 <= int(changed.sum()) <= 16
