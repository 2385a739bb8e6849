"""Probe data: where images come from, class-balanced probe batches and their fingerprints.

The package, by job:

* :mod:`nasx.data.sources` -- the kinds of ``--data`` source (``.npz``, CIFAR python folder or
  archive, image folder, ``cifar10`` / ``cifar100`` from the cache, the embedded
  ``cifar10-probe`` set, ``synthetic``, ``shape``) and :func:`load_dataset`;
* :mod:`nasx.data.cifar` -- reading the CIFAR-10/100 python distribution;
* :mod:`nasx.data.download` -- the cache folder and the checksum-verified CIFAR download;
* :mod:`nasx.data.embedded` -- the probe set shipped with nasx: name, file, checksum;
* :mod:`nasx.data.validate` -- checks and conversions of pixels and labels;
* :mod:`nasx.data.batch` -- :class:`ProbeDataset`, :class:`ProbeBatch`, the class-balanced
  draw and its fingerprint, and the shape-only batch of data-free scoring.

**Data-free scoring.** When no proxy needs images (every one declares ``"none"`` in its
``needs`` and neither ``"data"`` nor ``"labels"``: params, flops, synflow, zen), nothing is
loaded: :func:`shape_batch` gives a batch of one all-zero input of the space's input shape with a
number of classes (10, or ``shape:<classes>``, or that of an explicitly given source), and its
own fingerprint.

**Validation on load** (:mod:`nasx.data.validate`): anything nasx cannot use exactly is a
:class:`~nasx.errors.DataError` naming the file, or a conversion with a warning; never a
silently different batch.

Example:
    >>> from nasx.data import draw_batch, load_dataset
    >>> batch = draw_batch(load_dataset("cifar10-probe"), 64, seed=0)
    >>> tuple(batch.x.shape)
    (64, 3, 32, 32)
"""

from __future__ import annotations

# ``needs_images`` is a question about proxies; it lives in nasx.proxies.base and is re-exported
# here for code that imported it from nasx.data
from ..proxies.base import needs_images
from .batch import ProbeBatch, ProbeDataset, balanced_indices, draw_batch, shape_batch
from .download import cache_dir, download_cifar
from .embedded import EMBEDDED, EMBEDDED_NOTE, EMBEDDED_SHA256, embedded_probe_path
from .sources import (
    load_dataset,
    load_embedded,
    num_classes_of,
    parse_shape_spec,
    synthetic_dataset,
)

__all__ = [
    "ProbeDataset",
    "ProbeBatch",
    "load_dataset",
    "draw_batch",
    "balanced_indices",
    "cache_dir",
    "download_cifar",
    "synthetic_dataset",
    "shape_batch",
    "needs_images",
    "parse_shape_spec",
    "load_embedded",
    "num_classes_of",
    "embedded_probe_path",
    "EMBEDDED",
    "EMBEDDED_NOTE",
    "EMBEDDED_SHA256",
]
