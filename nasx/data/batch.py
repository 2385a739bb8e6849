"""Probe datasets and batches: the class-balanced draw, normalisation, fingerprints, and the
shape-only batch of data-free scoring.

A :class:`ProbeBatch` is drawn class-balanced with a seed and carries a fingerprint (a hash of the
exact pixels, labels and preprocessing) that is part of every cache key and report. When no proxy
needs images, :func:`shape_batch` gives a batch of one all-zero input of the space's input shape
with a number of classes, and its own fingerprint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from .embedded import EMBEDDED, EMBEDDED_SHA256
from .validate import MIN_IMAGE_SIDE

__all__ = ["ProbeDataset", "ProbeBatch", "balanced_indices", "draw_batch", "shape_batch"]


@dataclass(frozen=True)
class ProbeDataset:
    """Images (uint8, NHWC) and labels that probe batches are drawn from."""

    x: np.ndarray
    y: np.ndarray
    num_classes: int
    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    classes: tuple[str, ...] = ()
    synthetic: bool = False

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.x.shape[-1] != 3 or self.x.dtype != np.uint8:
            raise DataError(
                f"{self.name}: images must be uint8 of shape (N, H, W, 3); got "
                f"{self.x.dtype} {self.x.shape}"
            )
        if self.y.shape != (self.x.shape[0],):
            raise DataError(
                f"{self.name}: {self.x.shape[0]} images but labels of shape {self.y.shape}"
            )
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= self.num_classes):
            raise DataError(f"{self.name}: labels must lie in 0..{self.num_classes - 1}")

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class ProbeBatch:
    """A normalised probe batch (torch tensors) with its fingerprint."""

    x: Any  # torch.Tensor, float32, NCHW
    y: Any  # torch.Tensor, int64
    num_classes: int
    fingerprint: str
    source: str
    indices: tuple[int, ...] = field(default=(), repr=False)
    synthetic: bool = False

    def to(self, device: Any) -> ProbeBatch:
        return ProbeBatch(
            self.x.to(device),
            self.y.to(device),
            self.num_classes,
            self.fingerprint,
            self.source,
            self.indices,
            self.synthetic,
        )

    def clone(self) -> ProbeBatch:
        """The same batch with its own copies of ``x`` and ``y``: what one proxy call gets, so
        that a proxy writing into its inputs changes nobody else's."""
        return ProbeBatch(
            self.x.detach().clone(),
            self.y.detach().clone(),
            self.num_classes,
            self.fingerprint,
            self.source,
            self.indices,
            self.synthetic,
        )

    def __len__(self) -> int:
        return int(self.x.shape[0])


def balanced_indices(
    y: np.ndarray, batch_size: int, num_classes: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of a class-balanced batch: ``batch_size // C`` per class, the remainder spread
    over randomly chosen classes (one extra each). Classes without enough images give what they
    have; the shortfall is filled from other classes."""
    if batch_size <= 0:
        raise DataError(f"batch size must be positive; got {batch_size}")
    if batch_size > len(y):
        raise DataError(f"batch size {batch_size} exceeds the {len(y)} probe images")
    present = [c for c in range(num_classes) if np.any(y == c)]
    if not present:
        raise DataError("probe data has no labelled images")
    if len(present) < 2:
        raise DataError(
            f"probe data has images of one class only (label {present[0]}); label-based proxies "
            "(GradAlign, GradSign, snip, ...) compare classes: give images of at least two classes"
        )
    per = np.full(len(present), batch_size // len(present))
    extra = rng.choice(len(present), size=batch_size % len(present), replace=False)
    per[extra] += 1
    chosen: list[np.ndarray] = []
    leftovers: list[np.ndarray] = []
    for k, c in enumerate(present):
        idx = rng.permutation(np.flatnonzero(y == c))
        chosen.append(idx[: per[k]])
        leftovers.append(idx[per[k]:])
    out = np.concatenate(chosen)
    short = batch_size - len(out)
    if short > 0:
        pool = rng.permutation(np.concatenate(leftovers))
        out = np.concatenate([out, pool[:short]])
    return np.sort(out)


def draw_batch(
    dataset: ProbeDataset,
    batch_size: int = 128,
    seed: int = 0,
    *,
    balanced: bool = True,
    input_size: int | Sequence[int] | None = None,
) -> ProbeBatch:
    """Draw a probe batch (class-balanced by default), normalise it, and fingerprint it.

    Args:
        dataset: the images to draw from.
        batch_size: number of images.
        seed: seed of the draw (independent of the model-initialisation seed).
        balanced: class-balanced (default) or uniform draw.
        input_size: resize to this spatial size (``H`` or ``(H, W)``) when the space expects a
            different resolution (bilinear, antialiased); part of the fingerprint. Images
            smaller than :data:`~nasx.data.validate.MIN_IMAGE_SIDE` pixels a side are never
            resized (a :class:`~nasx.errors.DataError`).
    """
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    if balanced:
        idx = balanced_indices(dataset.y, batch_size, dataset.num_classes, rng)
    else:
        if batch_size <= 0:
            raise DataError(f"batch size must be positive; got {batch_size}")
        if batch_size > len(dataset):
            raise DataError(f"batch size {batch_size} exceeds the {len(dataset)} probe images")
        idx = np.sort(rng.choice(len(dataset), size=batch_size, replace=False))
    xb = dataset.x[idx]
    yb = dataset.y[idx]
    x = torch.from_numpy(np.ascontiguousarray(xb)).permute(0, 3, 1, 2).float().div_(255.0)
    size: tuple[int, int] | None = None
    if input_size is not None:
        size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        if tuple(x.shape[-2:]) != size:
            height, width = x.shape[-2:]
            if min(height, width) < MIN_IMAGE_SIDE:
                raise DataError(f"{dataset.name}: images of {height}x{width} pixels would be "
                                f"resized to {size[0]}x{size[1]}; probe images must be at least "
                                f"{MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} to be resized")
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        else:
            size = None
    mean = torch.tensor(dataset.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(dataset.std, dtype=torch.float32).view(1, 3, 1, 1)
    x = ((x - mean) / std).contiguous()
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(xb).tobytes())
    h.update(np.ascontiguousarray(yb, dtype=np.int64).tobytes())
    h.update(repr((dataset.mean, dataset.std, size, dataset.num_classes)).encode())
    if dataset.name == EMBEDDED:  # the shipped set is named in its fingerprint
        h.update(f"{EMBEDDED}:{EMBEDDED_SHA256}".encode())
    return ProbeBatch(
        x=x,
        y=torch.from_numpy(np.ascontiguousarray(yb, dtype=np.int64)),
        num_classes=dataset.num_classes,
        fingerprint=h.hexdigest()[:16],
        source=dataset.name,
        indices=tuple(int(i) for i in idx),
        synthetic=dataset.synthetic,
    )


def shape_batch(input_shape: Sequence[int], num_classes: int = 10) -> ProbeBatch:
    """A shape-only probe batch for data-free proxies: one all-zero input of ``input_shape``
    (C, H, W) and one label 0; the network gets ``num_classes`` outputs. Its fingerprint hashes
    only the shape and the number of classes, so it never equals that of a real batch."""
    import torch

    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise DataError(f"input shape must be (C, H, W) with positive sizes; got {shape}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise DataError(f"number of classes must be a positive integer; got {num_classes!r}")
    fp = hashlib.sha256(repr(("shape-only", shape, num_classes)).encode()).hexdigest()[:16]
    return ProbeBatch(
        x=torch.zeros((1, *shape), dtype=torch.float32),
        y=torch.zeros((1,), dtype=torch.int64),
        num_classes=num_classes,
        fingerprint=fp,
        source=f"shape:{num_classes}",
    )
