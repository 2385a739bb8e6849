"""Training and held-out data, and the augmentation, in torch itself (no torchvision).

Sources are those of :func:`nasx.data.load_dataset` (read by its readers): ``.npz`` files, CIFAR
python folders or archives, image folders, ``cifar10`` / ``cifar100`` from the cache, and
``synthetic`` (smoke runs). The held-out data (``eval_split`` of the protocol):

* ``test``: the source's test split (CIFAR: ``test_batch`` / ``test``; the training split is
  ``data_batch_1..5`` / ``train``) or a second source given as ``test_data``;
* ``holdout``: a stratified, seeded fraction of the training data: in each class, the images are
  permuted by ``numpy.random.default_rng(split_seed)`` (one generator, classes in label order)
  and the first ``round(holdout * n)`` (at least 1, at most ``n - 1``) are held out;
* ``auto``: ``test`` when there is one, else ``holdout``.

Images are normalised with the training source's mean and standard deviation (CIFAR: the
NAS-Bench-201 constants). Augmentation, in the order of the usual torchvision pipelines: zero
padding of ``crop_padding`` pixels then a random crop back to the image size, a random horizontal
flip, normalisation, then cutout (a square of ``cutout`` pixels, centre uniform over the image,
clipped at the borders, set to 0 after normalisation, as DARTS's ``Cutout``). Every random number
is drawn from one CPU ``torch.Generator`` (so runs on any device draw the same numbers).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import ProbeDataset, load_dataset
from ..errors import DataError

__all__ = ["TrainData", "load_train_data", "augment", "normalise", "holdout_split"]

_CIFAR_NAMES = ("cifar10", "cifar100")


@dataclass(frozen=True)
class TrainData:
    """Training and held-out images (uint8 NHWC) and labels, with their description."""

    train_x: np.ndarray
    train_y: np.ndarray
    eval_x: np.ndarray
    eval_y: np.ndarray
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    name: str
    eval_name: str  # how the held-out data was obtained
    fingerprint: str
    synthetic: bool = False

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.train_x.shape[1]), int(self.train_x.shape[2])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "held_out": self.eval_name, "train_images": len(self.train_y),
                "held_out_images": len(self.eval_y), "num_classes": self.num_classes,
                "image_size": list(self.image_size), "fingerprint": self.fingerprint}


def _has_test_split(source: Any) -> bool:
    """Whether ``source`` is a CIFAR source (name, python folder or archive)."""
    if isinstance(source, ProbeDataset):
        return False
    text = str(source)
    if text.lower() in _CIFAR_NAMES:
        return True
    path = Path(text).expanduser()
    if path.is_file():
        return path.name.endswith((".tar.gz", ".tgz"))
    if not path.is_dir():
        return False
    if (path / "data_batch_1").exists() or (path / "test_batch").exists():
        return True
    if (path / "train").is_file() and (path / "meta").is_file():
        return True
    return any((path / sub).is_dir() for sub in ("cifar-10-batches-py", "cifar-100-python"))


def holdout_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept indices, held-out indices) of a stratified seeded split (see the module docs)."""
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        k = 0 if n < 2 else min(max(int(round(fraction * n)), 1), n - 1)
        held.append(idx[:k])
        keep.append(idx[k:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def _fingerprint(parts: list[np.ndarray], extra: str) -> str:
    h = hashlib.sha256()
    for a in parts:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    h.update(extra.encode())
    return h.hexdigest()[:16]


def load_train_data(data: str | os.PathLike[str] | ProbeDataset, *,
                    test_data: str | os.PathLike[str] | ProbeDataset | None = None,
                    eval_split: str = "auto", holdout: float = 0.1, split_seed: int = 0,
                    download: bool = False) -> TrainData:
    """Training and held-out data of ``data`` (see the module docstring).

    Raises:
        DataError: unreadable data, no test split where ``eval_split="test"`` asks for one,
            a test set whose classes or image size do not match the training set.
    """
    train = load_dataset(data, train=True, download=download)
    has_test = test_data is not None or _has_test_split(data)
    mode = eval_split if eval_split != "auto" else ("test" if has_test else "holdout")
    if mode == "test":
        if not has_test:
            raise DataError(f"{train.name} has no test split; give test_data (--test-data) or "
                            "use --set eval_split=holdout")
        src = test_data if test_data is not None else data
        test = load_dataset(src, train=False, download=download,
                            num_classes=train.num_classes if test_data is not None else None)
        if test.num_classes != train.num_classes:
            raise DataError(f"test data {test.name} has {test.num_classes} classes, the training "
                            f"data {train.name} {train.num_classes}")
        if test.x.shape[1:] != train.x.shape[1:]:
            raise DataError(f"test images are {test.x.shape[1]}x{test.x.shape[2]}, training "
                            f"images {train.x.shape[1]}x{train.x.shape[2]}; they must match")
        tx, ty, ex, ey = train.x, train.y, test.x, test.y
        how = ("test split" if test_data is None else f"test data {test.name}")
    else:
        kept, held = holdout_split(train.y, holdout, split_seed)
        if len(held) == 0:
            raise DataError(f"{train.name}: too few images per class to hold any out")
        tx, ty, ex, ey = train.x[kept], train.y[kept], train.x[held], train.y[held]
        how = f"holdout {holdout:g} of each class (split_seed {split_seed})"
    if len(ty) < 2:
        raise DataError(f"{train.name}: fewer than 2 training images")
    fp = _fingerprint([tx, ty, ex, ey], repr((train.mean, train.std, train.num_classes)))
    return TrainData(tx, ty.astype(np.int64), ex, ey.astype(np.int64), train.num_classes,
                     tuple(train.mean), tuple(train.std), train.name, how, fp,  # type: ignore
                     synthetic=train.synthetic)


def normalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC -> float32 NCHW, ``(x / 255 - mean) / std``."""
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    return (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def augment(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, gen: torch.Generator, *,
            padding: int, flip: bool, cutout: int) -> torch.Tensor:
    """A normalised, augmented float NCHW batch of the uint8 NHWC batch ``x`` (on its device);
    random numbers from the CPU generator ``gen``, drawn in a fixed order."""
    n, h, w, _ = x.shape
    dev = x.device
    out = x.permute(0, 3, 1, 2).float().div_(255.0)
    if padding > 0:
        padded = torch.nn.functional.pad(out, (padding, padding, padding, padding))
        oy = torch.randint(0, 2 * padding + 1, (n,), generator=gen).to(dev)
        ox = torch.randint(0, 2 * padding + 1, (n,), generator=gen).to(dev)
        rows = (oy[:, None] + torch.arange(h, device=dev)[None, :])  # (n, h)
        cols = (ox[:, None] + torch.arange(w, device=dev)[None, :])  # (n, w)
        b = torch.arange(n, device=dev)[:, None, None]
        # advanced indexing: (n, h, w, C) -> NCHW
        out = padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]
        out = out.permute(0, 3, 1, 2)
    if flip:
        mask = (torch.rand(n, generator=gen) < 0.5).to(dev)
        out = torch.where(mask.view(n, 1, 1, 1), out.flip(3), out)
    out = (out - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    if cutout > 0:
        cy = torch.randint(0, h, (n,), generator=gen).to(dev)
        cx = torch.randint(0, w, (n,), generator=gen).to(dev)
        ys = torch.arange(h, device=dev)[None, :]
        xs = torch.arange(w, device=dev)[None, :]
        half = cutout // 2
        in_y = (ys >= (cy[:, None] - half)) & (ys < (cy[:, None] - half + cutout))
        in_x = (xs >= (cx[:, None] - half)) & (xs < (cx[:, None] - half + cutout))
        hole = in_y[:, :, None] & in_x[:, None, :]  # (n, h, w)
        out = out.masked_fill(hole[:, None, :, :], 0.0)
    return out.contiguous()
