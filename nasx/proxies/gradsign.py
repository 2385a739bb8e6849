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
  Per-sample gradients are computed in chunks of ``ctx.chunk_size`` samples and their signs summed
  in float64, so memory is ``chunk x (number of conv/linear weights)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ProxyError
from ..grads import per_sample_grads
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
    named = dict(model.named_parameters())
    params = {n: named[n].detach() for n in names}
    x, y = batch.x, batch.y
    n = int(x.shape[0])
    if n < 1:
        raise ProxyError("GradSign needs a non-empty probe batch")
    step = ctx.chunk_size or n
    sums = {k: torch.zeros(v.shape, dtype=torch.float64, device=v.device)
            for k, v in params.items()}
    for start in range(0, n, step):
        grads = per_sample_grads(model, x[start:start + step], y[start:start + step],
                                 params=params, chunk_size=ctx.chunk_size)
        for k, g in grads.items():
            sums[k] += torch.sign(g.detach()).double().sum(0)
        del grads
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
    "gradsign",
    higher_is_better=True,
    needs=("data", "labels", "per-sample-grads"),
    paper=PAPER,
    description="Sum over conv/linear weights of |sum over samples of sign(per-sample gradient)|.",
)(gradsign)
