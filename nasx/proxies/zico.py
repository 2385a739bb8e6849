"""ZiCo: zero-shot proxy from the inverse coefficient of variation of gradients.

Paper: Li, Yang, Wang, Marculescu, "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation
on Gradients", ICLR 2023. Reference implementation followed: ``SLDGroup/ZiCo``,
``ZeroShotProxy/compute_zico.py`` (``getgrad``, ``caculate_zico``, ``getzico``).

Definition. Split the probe batch into ``B`` consecutive parts (``splits``, default 2). For each
part ``b`` run one forward/backward pass of the mean cross-entropy of the untrained network, in
training mode, and record ``g_b = dL_b / dW`` for the ``weight`` of every ``nn.Conv2d`` and
``nn.Linear`` module (gradients are reset between parts). For each layer ``l`` and weight entry
``k`` let ``mu_k = mean_b |g_{b,k}|`` and ``sigma_k = std_b g_{b,k}`` (population standard
deviation, ``ddof=0``). Then::

    ZiCo = sum over layers l with S_l > 0 of log(S_l),   S_l = sum over k with sigma_k != 0 of
                                                               mu_k / sigma_k

Higher is better: the paper's orientation, confirmed on NAS-Bench-201 (raw Spearman rho
0.750 against ``cifar10_test`` on 100 cells, C=8, N=1, seed 0;
``benchmarks/results/crosscheck_zico_meco_swap_truth.json``; 0.815 on 50 cells of the full
C=16, N=5 network, ``crosscheck_zico_meco_swap_truth_c16n5.json``).

Details that change results, all explicit:

* **Batches.** The reference iterates over a data loader, one mini-batch per step, for as many
  batches as the loader gives. nasx takes ``splits`` (default 2) batches as consecutive parts of
  the probe batch: with a probe batch of 128 that is two batches of 64 (the benchmark's
  setting). The value depends on the number and size of the parts. (The MeCo repository's copy,
  ``zico.py``, also halves one batch but never clears the gradients between halves, so its second
  "batch" is the sum of both; nasx follows the authors' code, which clears them.) A probe batch
  that does not split evenly gives parts of ``floor`` sizes as in that copy.
* **BatchNorm** in training mode (batch statistics of each part), as ``network.train()``.
* **Which weights.** ``weight`` of every Conv2d/Linear module (biases and BatchNorm affine
  parameters are ignored); a layer whose weight receives no gradient is skipped (the reference
  would crash; on NAS-Bench-201 the ``none`` op multiplies by zero, so the gradient is zero,
  not missing).
* **Zero spread.** Entries with ``sigma_k == 0`` exactly (e.g. every weight behind a ``none``
  edge) are left out; a layer whose sum is 0 adds nothing (no ``log 0``). If no layer adds
  anything the score is 0.0, as the reference returns.
* **Precision.** Gradients are float32 (as the reference's numpy copies); means, standard
  deviations, ratios and logs are computed in float64 (the reference uses float32 numpy).
* **NaN.** A NaN gradient makes the score NaN (a recorded failure), as in the reference.
* ``splits`` must be at least 2 (the standard deviation of one value is 0 everywhere).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ProxyError
from ._common import scored_layers
from .base import ScoreContext, register_proxy

__all__ = ["zico", "zico_from_grads"]

PAPER = ("Li et al., ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients, "
         "ICLR 2023")


def zico_from_grads(grads: list[list[torch.Tensor]]) -> float:
    """ZiCo from per-layer gradient lists: ``grads[l][b]`` is layer ``l``'s gradient in part
    ``b`` (any shape). Returns ``sum_l log(sum_k mean|g| / std g)`` over entries with std > 0."""
    total = 0.0
    for layer in grads:
        g = torch.stack([t.detach().reshape(-1).double().cpu() for t in layer])
        std = g.std(dim=0, unbiased=False)
        mean_abs = g.abs().mean(dim=0)
        keep = std != 0
        s = float((mean_abs[keep] / std[keep]).sum())
        if math.isnan(s):
            return math.nan
        if s != 0.0:
            total += math.log(s)
    return total


def zico(model: nn.Module, batch, ctx: ScoreContext, splits: int = 2) -> float:
    """ZiCo: per layer ``log sum(mean|g| / std g)`` over batch parts, summed (higher is better)."""
    splits = int(splits)
    if splits < 2:
        raise ProxyError(f"ZiCo needs at least 2 batch parts (splits), got {splits}")
    n = int(batch.x.shape[0])
    if n < splits:
        raise ProxyError(f"ZiCo needs a probe batch of at least {splits} samples, got {n}")
    layers = scored_layers(model)
    if not layers:
        raise ProxyError("ZiCo needs at least one nn.Conv2d or nn.Linear weight in the model")
    weights: list[torch.Tensor] = []
    seen: set[int] = set()
    for m in layers:
        if id(m.weight) not in seen:
            seen.add(id(m.weight))
            weights.append(m.weight)
    model.train()
    per_layer: list[list[torch.Tensor]] = [[] for _ in weights]
    missing = [False] * len(weights)
    saved = [w.requires_grad for w in weights]
    try:
        for w in weights:
            w.requires_grad_(True)
        for sp in range(splits):
            st, en = sp * n // splits, (sp + 1) * n // splits
            out = model(batch.x[st:en])
            if isinstance(out, (tuple, list)):
                out = out[-1]
            loss = F.cross_entropy(out, batch.y[st:en])
            grads = torch.autograd.grad(loss, weights, allow_unused=True)
            for i, g in enumerate(grads):
                if g is None:
                    missing[i] = True
                else:
                    per_layer[i].append(g.detach())
    finally:
        for w, flag in zip(weights, saved):
            w.requires_grad_(flag)
    return zico_from_grads([gs for gs, miss in zip(per_layer, missing) if not miss])


register_proxy(
    "zico", zico,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("data", "labels", "grads", "train-mode"),
    paper=PAPER,
    description="Sum over conv/linear layers of log(sum of mean|grad| / std(grad) across batch "
    "parts).",
)
