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
  sign vectors (float64 ``slogdet``; a singular Gram matrix, e.g. two identical sign vectors,
  gives ``-inf`` and the class is a recorded failure, not a silent number).

Both are averaged over the classes that have at least two samples (Algorithm 1, lines 3-10);
classes with fewer are skipped, and a batch where every class is skipped is an error.

Details that change results, all explicit:

* ``sign(0) = 0`` (``torch.sign``): parameters with zero gradient (e.g. behind a ``none`` edge)
  contribute nothing to either score, so the dot products are not normalised by the parameter
  count: raw values grow with the number of parameters that receive gradient.
* Orientation, measured on NAS-Bench-201 CIFAR-10 ground truth (``benchmarks/nb201_gradalign.py``):
  higher is better for both. For GradAlign-II the paper's prose reads "a lower value indicates
  that the per-sample gradient vectors are more tightly concentrated"; over real cells the raw
  log-det tracks the parameter count that receives gradient, and it is the higher values that
  rank the better-trained cells first, so nasx declares ``higher_is_better=True`` for both.
* Per-class parameter gradients are reduced tensor by tensor (never concatenated), so memory is
  ``N_c x (largest parameter tensor)`` on top of the per-sample gradients of one class.
"""

from __future__ import annotations

import math

import torch

from ..errors import ProxyError
from ..grads import per_sample_grads
from .base import ScoreContext, register_proxy

__all__ = ["class_sign_stats", "gradalign"]

PAPER = "Li & Guo, GradAlign for Training-free Model Performance Inference (Algorithm 1)"


def class_sign_stats(model: torch.nn.Module, batch, ctx: ScoreContext) -> list[dict]:
    """Per class with >= 2 samples: ``{"n": N_c, "align": sum_i s_i . sign(mean g),
    "gram": G (float64, N_c x N_c)}``. Cached in ``ctx.cache`` so that GradAlign-I and -II
    scored on the same model share one per-sample-gradient pass."""
    key = ("gradalign.class_sign_stats", ctx.chunk_size)
    if key in ctx.cache:
        return ctx.cache[key]
    y = batch.y
    stats = []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c, as_tuple=True)[0]
        n = int(idx.numel())
        if n < 2:
            continue
        grads = per_sample_grads(model, batch.x[idx], y[idx], chunk_size=ctx.chunk_size)
        align = torch.zeros((), dtype=torch.float64, device=batch.x.device)
        gram = torch.zeros((n, n), dtype=torch.float64, device=batch.x.device)
        for g in grads.values():
            g = g.reshape(n, -1)
            s = torch.sign(g)
            mean_sign = torch.sign(g.sum(0))
            # entries are integers bounded by the tensor size: exact in float32 up to 2^24,
            # accumulated in float64 across tensors
            align += (s @ mean_sign).double().sum()
            sd = s.double() if s.numel() < (1 << 22) else s
            gram += (sd @ sd.T).double()
        stats.append({"class": int(c), "n": n, "align": float(align), "gram": gram})
        del grads
    if not stats:
        raise ProxyError(
            "GradAlign needs at least one class with two or more samples in the probe batch; "
            "use a class-balanced batch with batch_size >= 2 * num_classes"
        )
    ctx.cache[key] = stats
    return stats


def gradalign(model: torch.nn.Module, batch, ctx: ScoreContext, variant: str = "i") -> float:
    """GradAlign score of ``model`` on ``batch`` (variant ``"i"`` or ``"ii"``)."""
    stats = class_sign_stats(model, batch, ctx)
    if variant == "i":
        return float(sum(s["align"] / s["n"] for s in stats) / len(stats))
    if variant == "ii":
        total = 0.0
        for s in stats:
            sign, logdet = torch.linalg.slogdet(s["gram"].cpu())
            if sign.item() <= 0:
                return -math.inf  # singular (or numerically indefinite) Gram matrix
            total += float(logdet)
        return total / len(stats)
    raise ProxyError(f"unknown GradAlign variant {variant!r}; use 'i' or 'ii'")


register_proxy(
    "gradalign-i",
    higher_is_better=True,
    needs=("data", "labels", "per-sample-grads"),
    paper=PAPER + ", Eq. 11",
    description="Mean alignment of per-sample gradient signs with the sign of the class-mean "
    "gradient, averaged over classes.",
    variant="i",
)(gradalign)
register_proxy(
    "gradalign-ii",
    higher_is_better=True,
    needs=("data", "labels", "per-sample-grads"),
    paper=PAPER + ", Eq. 13",
    description="Log-determinant of the Gram matrix of per-sample gradient signs, averaged "
    "over classes.",
    variant="ii",
)(gradalign)
