"""GradAlign-I and GradAlign-II: alignment of per-sample gradients at initialisation.

Paper: Li & Guo, "GradAlign for Training-free Model Performance Inference" (Algorithm 1,
Equations 11-13). No public reference code exists; this module is the reference implementation.

Definition. For a probe batch grouped by class ``c`` (samples ``i = 1..N_c``), let ``g_i`` be the
gradient of sample ``i``'s cross-entropy loss with respect to all trainable parameters of the
untrained network (computed with ``torch.func``; BatchNorm normalises each sample by its own
statistics, see :mod:`nasx.grads`), and ``s_i = sign(g_i)`` its component-wise direction.

* GradAlign-I (Eq. 11): ``s = (1/N_c) * sum_i s_i . sign((1/N_c) sum_j g_j)``, the mean alignment
  of each sample's sign vector with the sign of the class-mean gradient.
* GradAlign-II (Eq. 13): ``s = log det G`` with ``G[i, j] = s_i . s_j`` the Gram matrix of the
  sign vectors (float64 ``slogdet``).

Both are averaged over the classes that have at least two samples (Algorithm 1, lines 3-10);
classes with fewer are skipped, and a batch where every class is skipped is an error.

Singular classes (GradAlign-II). A class whose Gram matrix is singular (``log det = -inf``, e.g.
two samples with identical sign vectors, or a cell whose output ignores its input) has no finite
score. GradAlign-II averages over the classes whose Gram matrix is non-singular and records the
number it left out (``ctx.notes["gradalign.singular_classes"]``); when every class is singular
the score is a recorded failure (``ProxyError``), never a made-up number.

Variants that separate alignment from size (registered under their own names):

* ``gradalign-i-frac``: per class, the mean over samples of ``s_i . m / ||m||_0`` with
  ``m = sign(mean_j g_j)``: the net fraction of the parameters receiving gradient on which a
  sample agrees with its class direction (in ``[-1, 1]``), independent of the parameter count.
* ``gradalign-ii-norm``: ``log det (G / ||m||_0)`` per class, i.e. GradAlign-II with the Gram
  matrix scaled by the number of parameters receiving gradient
  (``log det G - N_c log ||m||_0``).

Details that change results, all explicit:

* ``sign(0) = 0`` (``torch.sign``): parameters with zero gradient (e.g. behind a ``none`` edge)
  contribute nothing to either score, so the dot products are not normalised by the parameter
  count: raw values grow with the number of parameters that receive gradient.
* Orientation, measured on NAS-Bench-201 CIFAR-10 ground truth (``benchmarks/nb201_gradalign.py``):
  higher is better for both. For GradAlign-II the paper's prose reads "a lower value indicates
  that the per-sample gradient vectors are more tightly concentrated"; over real cells the raw
  log-det tracks the parameter count that receives gradient, and it is the higher values that
  rank the better-trained cells first, so nasx declares ``higher_is_better=True`` for both.

Computation (see :mod:`nasx.grads`). Per-sample gradients come from one batched forward and
backward pass with per-layer capture (or ``torch.func.vmap`` where the model has a layer the
capture does not handle), for whole classes at a time: all classes in one pass unless
``ctx.chunk_size`` asks for fewer samples per pass, or the pass's activations (estimated from one
sample's module outputs) would exceed :func:`nasx.grads.default_activation_budget` (2 GiB on CPU),
in which case the classes are cut into passes that fit (a class larger than a pass gets one of its
own). Classes are independent, so the passes change no value beyond float32 rounding (see
exactness). The gradients are streamed, layer by
layer, into blocks of columns (small tensors are gathered in an ``N x B`` buffer; large ones are
reduced as they come). For each block the reductions are two kinds of products: the class sums
``onehot @ G`` (whose signs are the class directions ``m_c``), and, with the signs of each class's
rows written next to one row holding ``m_c``, one product per class of that ``(N_c + 1) x B`` block
with itself, which holds the class's Gram block, the alignments ``s_i . m_c`` and ``||m_c||_0`` at
once (on CUDA one product over all classes' rows, whose diagonal blocks are kept). The ``N x P``
matrix is never held whole.

Exactness. Every entry of ``sign(G)`` and ``sign(M)`` is -1, 0 or 1, so every product and every
partial sum inside a block is an integer of magnitude at most ``B``. The buffer is kept below
``2**24`` columns, so float32 represents all of them exactly whatever the summation order (and so
does TF32 on CUDA: its 10-bit mantissa holds -1, 0, 1 exactly and it accumulates in float32).
Blocks are accumulated in float64, exact up to ``2**53``. The only rounding is in the gradients
and the class sums ``M`` themselves (float32), whose signs decide ``s_i`` and ``m``, as in any
implementation. A component whose gradient is analytically zero is computed as rounding noise of
either sign, which the kernels' summation order (the CPU, the pass size) decides: e.g. a conv
bias ahead of BatchNorm, or, under per-sample BatchNorm, a BatchNorm weight (and what feeds it)
whose output gradient is constant over positions, as ahead of global average pooling. Each such
component moves GradAlign-I by at most 2 (``tests/test_api_golden.py`` counts them).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..errors import ProxyError
from ..grads import (
    default_activation_budget,
    default_memory_budget,
    per_sample_activation_bytes,
    stream_per_sample_grads,
)
from .base import ScoreContext, register_proxy

__all__ = ["SignStatsAccumulator", "class_sign_stats", "gradalign"]

PAPER = "Li & Guo, GradAlign for Training-free Model Performance Inference (Algorithm 1)"

#: largest block width: every integer a float32 product of sign blocks can produce is exact
MAX_BLOCK_COLS = 1 << 24


class SignStatsAccumulator:
    """Streams blocks of per-sample gradients into GradAlign's per-class statistics.

    Args:
        y: labels of the samples (``N``), on the device, **sorted** so that each class is one
            contiguous run (any order of the classes).
        block: columns of the ``N x block`` buffer that collects small parameter tensors
            (default: from the device's memory; at most ``2**24``, see exactness).
        direct: tensors with at least this many entries per sample are reduced as they come,
            without the copy into the buffer (default: the block width on CUDA, where fewer and
            larger products win, 2048 on CPU, where the copy costs a pass over memory).
        full_gram: compute the Gram blocks from one ``N x N`` product (default on CUDA) instead
            of one product per class.

    Call :meth:`add` with ``(n, numel)`` gradient blocks (any parameter order), then
    :meth:`finish`. Samples of classes with a single member are ignored.
    """

    def __init__(self, y: torch.Tensor, *, block: int | None = None,
                 direct: int | None = None, full_gram: bool | None = None) -> None:
        dev = y.device
        self.device = dev
        n = int(y.shape[0])
        self.n = n
        labels = y.tolist()
        runs: list[tuple[int, int, int]] = []  # (class, start, stop)
        for i, c in enumerate(labels):
            if runs and runs[-1][0] == c and runs[-1][2] == i:
                runs[-1] = (c, runs[-1][1], i + 1)
            else:
                runs.append((int(c), i, i + 1))
        if len({r[0] for r in runs}) != len(runs):
            raise ValueError("SignStatsAccumulator needs the samples sorted by class")
        self.runs = [r for r in runs if r[2] - r[1] >= 2]
        self.classes = [r[0] for r in self.runs]
        k = len(self.runs)
        self.onehot = torch.zeros((k, n), dtype=torch.float32, device=dev)
        for j, (_, lo, hi) in enumerate(self.runs):
            self.onehot[j, lo:hi] = 1.0
        on_gpu = dev.type == "cuda"
        if block is None:
            block = default_memory_budget(dev) // (4 * max(1, n)) if on_gpu else 1 << 14
        self.block = int(max(1, min(MAX_BLOCK_COLS, block)))
        self.direct = int(direct if direct is not None else (self.block if on_gpu else 2048))
        self.full_gram = on_gpu if full_gram is None else bool(full_gram)
        self.buffer: torch.Tensor | None = None
        self.used = 0
        # signs of one block, each class's rows followed by one row for its direction m_j, so
        # that one product per class gives its Gram matrix, the alignments s_i . m_j and
        # ||m_j||_0 = m_j . m_j at once
        self.offsets = []
        off = 0
        for _, lo, hi in self.runs:
            self.offsets.append(off)
            off += hi - lo + 1
        self.aug_rows = off
        self.aug: torch.Tensor | None = None
        self.align = torch.zeros(k, dtype=torch.float64, device=dev)
        self.nnz = torch.zeros(k, dtype=torch.float64, device=dev)
        self.gram = [torch.zeros((hi - lo, hi - lo), dtype=torch.float64, device=dev)
                     for _, lo, hi in self.runs]

    def add(self, name: str, g: torch.Tensor) -> None:
        """Add the per-sample gradients of one parameter, shape ``(n, numel)`` (consumed)."""
        g = g.reshape(self.n, -1)
        p = g.shape[1]
        if p >= self.direct or p > self.block:
            for start in range(0, p, self.block):
                self._reduce(g[:, start:start + self.block].float())
            return
        if self.buffer is None:
            self.buffer = torch.empty((self.n, self.block), dtype=torch.float32,
                                      device=self.device)
        if self.used + p > self.block:
            self._flush()
        self.buffer[:, self.used:self.used + p] = g
        self.used += p

    def _flush(self) -> None:
        if self.used:
            self._reduce(self.buffer[:, : self.used])
            self.used = 0

    def _reduce(self, g: torch.Tensor) -> None:
        b = g.shape[1]
        if self.aug is None:
            self.aug = torch.empty((self.aug_rows, self.block), dtype=torch.float32,
                                   device=self.device)
        aug = self.aug[:, :b]
        msum = self.onehot @ g  # (k, b) class sums of the raw gradients
        for j, (_, lo, hi) in enumerate(self.runs):
            off, nj = self.offsets[j], hi - lo
            torch.sign(g[lo:hi], out=aug[off:off + nj])
            torch.sign(msum[j:j + 1], out=aug[off + nj:off + nj + 1])
        # products of sign blocks are integers of magnitude <= b < 2**24: exact in float32
        if self.full_gram:
            full = aug @ aug.T
            blocks = [full[o:o + hi - lo + 1, o:o + hi - lo + 1]
                      for o, (_, lo, hi) in zip(self.offsets, self.runs)]
        else:
            blocks = [aug[o:o + hi - lo + 1] @ aug[o:o + hi - lo + 1].T
                      for o, (_, lo, hi) in zip(self.offsets, self.runs)]
        for j, r in enumerate(blocks):
            nj = r.shape[0] - 1
            r = r.double()
            self.gram[j] += r[:nj, :nj]
            self.align[j] += r[:nj, nj].sum()
            self.nnz[j] += r[nj, nj]

    def finish(self) -> list[dict[str, Any]]:
        """Per kept class: ``{"class", "n", "align", "nnz", "gram"}`` (``gram`` on CPU, float64,
        ``n x n``)."""
        self._flush()
        self.buffer = None
        self.aug = None
        align = self.align.cpu().tolist()
        nnz = self.nnz.cpu().tolist()
        return [{"class": c, "n": hi - lo, "align": align[j], "nnz": nnz[j],
                 "gram": self.gram[j].cpu()}
                for j, (c, lo, hi) in enumerate(self.runs)]


def _class_passes(y: torch.Tensor, chunk_size: int | None) -> list[torch.Tensor]:
    """Sample indices of each per-sample-gradient pass: whole classes, at most ``chunk_size``
    samples per pass where possible (a class larger than that gets a pass of its own)."""
    n = int(y.shape[0])
    if chunk_size is None or chunk_size >= n:
        return [torch.arange(n, device=y.device)]
    passes: list[list[torch.Tensor]] = [[]]
    size = 0
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c, as_tuple=True)[0]
        if passes[-1] and size + idx.numel() > chunk_size:
            passes.append([])
            size = 0
        passes[-1].append(idx)
        size += int(idx.numel())
    return [torch.cat(p) for p in passes]


def _pass_size(model: torch.nn.Module, batch, ctx: ScoreContext) -> int | None:
    """Samples per per-sample-gradient pass: ``ctx.chunk_size`` when set; otherwise as many as
    keep the pass's activations (estimated from one sample's module outputs) within
    :func:`~nasx.grads.default_activation_budget`, None (one pass) when the whole batch fits."""
    if ctx.chunk_size is not None:
        return ctx.chunk_size
    n = int(batch.x.shape[0])
    per_sample = per_sample_activation_bytes(model, batch.x)
    budget = default_activation_budget(batch.x.device)
    if n * per_sample <= budget:
        return None
    passes = -(-n * per_sample // budget)
    return -(-n // passes)  # balanced: the fewest passes that fit, of equal size


def class_sign_stats(model: torch.nn.Module, batch, ctx: ScoreContext) -> list[dict]:
    """Per class with >= 2 samples: ``{"class", "n": N_c, "align": sum_i s_i . sign(mean g),
    "nnz": ||sign(mean g)||_0, "gram": G (float64, N_c x N_c)}``. Cached in ``ctx.cache`` so
    that the GradAlign variants scored on the same model share one per-sample-gradient pass."""
    key = "gradalign.class_sign_stats"
    if key in ctx.cache:
        return ctx.cache[key]
    y = batch.y
    method = getattr(ctx, "grad_method", None) or "auto"
    stats: list[dict] = []
    methods = set()
    order = torch.argsort(y, stable=True)  # classes contiguous (samples are independent)
    for idx in _class_passes(y[order], _pass_size(model, batch, ctx)):
        idx = order[idx]
        acc = SignStatsAccumulator(y[idx])
        if not acc.classes:
            continue
        xs, ys = batch.x[idx], y[idx]
        methods.add(stream_per_sample_grads(model, xs, ys, acc.add, method=method,
                                            chunk_size=ctx.chunk_size))
        stats.extend(acc.finish())
    if not stats:
        raise ProxyError(
            "GradAlign needs at least one class with two or more samples in the probe batch; "
            "use a class-balanced batch with batch_size >= 2 * num_classes"
        )
    stats.sort(key=lambda s: s["class"])
    ctx.cache[key] = stats
    ctx.cache["gradalign.method"] = ",".join(sorted(methods))
    return stats


def _logdets(stats: list[dict], normalise: bool) -> tuple[list[float], int]:
    values = []
    singular = 0
    for s in stats:
        sign, logdet = torch.linalg.slogdet(s["gram"])
        if sign.item() <= 0 or not math.isfinite(float(logdet)):
            singular += 1
            continue
        v = float(logdet)
        if normalise:
            v -= s["n"] * math.log(max(s["nnz"], 1.0))
        values.append(v)
    return values, singular


def gradalign(model: torch.nn.Module, batch, ctx: ScoreContext, variant: str = "i") -> float:
    """GradAlign score of ``model`` on ``batch`` (variant ``"i"``, ``"ii"``, ``"i-frac"`` or
    ``"ii-norm"``)."""
    if variant not in ("i", "ii", "i-frac", "ii-norm"):
        raise ProxyError(f"unknown GradAlign variant {variant!r}; use 'i', 'ii', 'i-frac' or "
                         "'ii-norm'")
    stats = class_sign_stats(model, batch, ctx)
    if variant == "i":
        return float(sum(s["align"] / s["n"] for s in stats) / len(stats))
    if variant == "i-frac":
        return float(sum(s["align"] / (s["n"] * max(s["nnz"], 1.0)) for s in stats)
                     / len(stats))
    values, singular = _logdets(stats, normalise=variant == "ii-norm")
    notes = getattr(ctx, "notes", None)
    if isinstance(notes, dict):
        notes["gradalign.singular_classes"] = singular
    if not values:
        raise ProxyError(f"GradAlign-II: the sign Gram matrix is singular in all {singular} "
                         "classes (e.g. a cell whose output does not depend on its input)")
    return float(sum(values) / len(values))


_NEEDS = ("data", "labels", "per-sample-grads")
register_proxy(
    "gradalign-i", gradalign,
    higher_is_better=True,
    batch_split="invariant",
    needs=_NEEDS,
    paper=PAPER + ", Eq. 11",
    description="Mean alignment of per-sample gradient signs with the sign of the class-mean "
    "gradient, averaged over classes.",
    variant="i",
)
register_proxy(
    "gradalign-ii", gradalign,
    version="2",  # 2: singular classes are left out of the mean (was: -inf for the cell)
    higher_is_better=True,
    batch_split="invariant",
    needs=_NEEDS,
    paper=PAPER + ", Eq. 13",
    description="Log-determinant of the Gram matrix of per-sample gradient signs, averaged "
    "over the non-singular classes.",
    variant="ii",
)
register_proxy(
    "gradalign-i-frac", gradalign,
    higher_is_better=True,
    batch_split="invariant",
    needs=_NEEDS,
    paper=PAPER + ", Eq. 11, divided by the number of parameters receiving gradient",
    description="GradAlign-I per parameter receiving gradient: the net fraction of those "
    "parameters on which a sample agrees with its class direction.",
    variant="i-frac",
)
register_proxy(
    "gradalign-ii-norm", gradalign,
    higher_is_better=True,
    batch_split="invariant",
    needs=_NEEDS,
    paper=PAPER + ", Eq. 13, Gram matrix divided by the number of parameters receiving gradient",
    description="GradAlign-II of the Gram matrix scaled by the number of parameters receiving "
    "gradient.",
    variant="ii-norm",
)
