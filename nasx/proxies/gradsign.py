"""GradSign: density of sample-wise local minima, read from per-sample gradient signs.

Paper: Zhang & Jia, "GradSign: Model Performance Inference with Theoretical Insights", ICLR 2022.
Reference implementation followed: ``cmu-catalyst/GradSign``,
``zero-cost-nas-code/foresight/pruners/measures/grad_conflict.py`` (the zero-cost-nas style
measure ``grad_conflict`` that produced the paper's NAS-Bench-201 results).

Definition. For a probe batch of ``N`` samples let ``g_i`` be the gradient of sample ``i``'s
cross-entropy loss (a batch of one) with respect to the untrained network's parameters, restricted
to the *weights* of ``nn.Conv2d`` and ``nn.Linear`` modules (no biases, no BatchNorm affine
parameters). With ``k`` running over those weight entries::

    GradSign = sum_k | sum_i sign(g_{i,k}) |

Higher is better (more samples agree on the descent direction of each parameter).

Details that change results, all explicit:

* **Sum, not mean.** The reference has two versions: the zero-cost-nas measure reduces with
  ``np.nansum`` and the NASWOT-style script ``zero-cost-nas-code/gradsign.py`` with
  ``np.nanmean``. They rank architectures differently (the mean divides by each network's
  parameter count). nasx follows the paper's equation and the measure used for its published
  NAS-Bench-201 figures: the **sum**.
* **NaN handling.** As ``np.nansum``: a weight entry whose summed sign is NaN (a NaN gradient in
  some sample) is left out of the sum. If *every* entry is NaN the score is NaN (a recorded
  failure; ``np.nansum`` would return a silent 0).
* **BatchNorm.** The reference loops over samples, one forward/backward of a batch of one in
  training mode, so every BatchNorm normalises a sample by its own statistics. nasx computes the
  same per-sample gradients with ``torch.func`` (:func:`nasx.grads.per_sample_grads`, same
  batch-of-one semantics); running statistics are not used.
* ``sign(0) = 0``: weights with zero gradient (e.g. behind a ``none`` edge) add nothing.
* The probe batch is real labelled data (the reference uses one CIFAR batch of 64 or 128).
  Per-sample gradients come from one batched pass with per-layer capture (or ``torch.func``
  where a layer is not supported; :func:`nasx.grads.stream_per_sample_grads`), in passes of
  ``ctx.chunk_size`` samples when set; each layer's signs are summed over the samples as the
  layer's gradients arrive (exact: integer sums), so memory is one layer's per-sample gradients
  on top of the pass itself. The value does not depend on the chunking.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ProxyError
from ..grads import stream_per_sample_grads
from .base import ScoreContext, register_proxy

__all__ = ["gradsign", "gradsign_weight_names"]

PAPER = "Zhang & Jia, GradSign: Model Performance Inference with Theoretical Insights, ICLR 2022"


def gradsign_weight_names(model: nn.Module) -> list[str]:
    """Names of the parameters GradSign reads: the ``weight`` of every Conv2d and Linear."""
    names = []
    for mname, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight is not None \
                and m.weight.requires_grad:
            names.append(f"{mname}.weight" if mname else "weight")
    return names


def gradsign(model: nn.Module, batch, ctx: ScoreContext) -> float:
    """GradSign score: ``sum_k |sum_i sign(g_ik)|`` over conv/linear weights (higher is better)."""
    names = gradsign_weight_names(model)
    if not names:
        raise ProxyError("GradSign needs at least one nn.Conv2d or nn.Linear weight in the model")
    x, y = batch.x, batch.y
    n = int(x.shape[0])
    if n < 1:
        raise ProxyError("GradSign needs a non-empty probe batch")
    wanted = set(names)
    sums: dict[str, torch.Tensor] = {}

    def add(name: str, g: torch.Tensor) -> None:
        part = torch.sign(g.detach()).sum(0, dtype=torch.float64)
        sums[name] = part if name not in sums else sums[name] + part

    step = ctx.chunk_size or n
    method = getattr(ctx, "grad_method", None) or "auto"
    for start in range(0, n, step):
        stream_per_sample_grads(model, x[start:start + step], y[start:start + step], add,
                                method=method, names=wanted, chunk_size=ctx.chunk_size)
    total = 0.0
    finite = 0
    for s in sums.values():
        a = s.abs()
        ok = ~torch.isnan(a)
        finite += int(ok.sum())
        total += float(a[ok].sum())
    if finite == 0:
        return math.nan
    return total


register_proxy(
    "gradsign", gradsign,
    higher_is_better=True,
    batch_split="invariant",
    needs=("data", "labels", "per-sample-grads"),
    paper=PAPER,
    description="Sum over conv/linear weights of |sum over samples of sign(per-sample gradient)|.",
)
