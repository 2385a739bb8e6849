"""fisher: channel-wise Fisher information of the layer outputs, summed over the network.

Papers: Theis, Korshunova, Tejani & Huszar, "Faster gaze prediction with dense networks and
Fisher pruning", 2018 (the channel saliency); Turner, Crowley, O'Boyle, Storkey & Gray,
"BlockSwap: Fisher-guided Block Substitution for Network Compression on a Budget", ICLR 2020
(its use to rank networks); Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021 (the network score below).

Definition. For every ``nn.Conv2d`` / ``nn.Linear`` module ``l`` (subclasses included) let
``a`` be its output (before any BatchNorm or activation) on the probe batch and ``g = dL/da``
with ``L`` the mean cross-entropy. For sample ``n`` and output channel ``k``,
``s_nk = sum over spatial positions of a_nk * g_nk`` (for a Linear layer, ``a_nk * g_nk``), and
the channel saliency is ``F_lk = 0.5 * mean_n s_nk^2``. The score is

    fisher = sum over layers l, sum over channels k of |F_lk| * fan_l

where ``fan_l = prod(W_l.shape[1:])`` (``C_in/groups * kh * kw`` for a convolution,
``in_features`` for a Linear layer): the references broadcast each channel's value over the
weights of that channel before summing, so a channel counts once per weight it owns.

Reference implementation followed: samsung/zero-cost-nas ``foresight/pruners/measures/fisher.py``
(``compute_fisher_per_weight``, mode ``channel``) with ``p_utils.reshape_elements`` and the sum
of ``find_measures``; identical to NASLib ``naslib/predictors/pruners/measures/fisher.py``
(``zerocost`` branch). Details that change results:

* BatchNorm in training mode; loss ``F.cross_entropy`` (mean over the batch, so ``g`` carries a
  ``1/N`` factor and the score scales as ``1/N^2`` with the batch size); one real labelled batch.
* The per-channel value is weighted by the channel's fan-in (the broadcast above); without it the
  score would rank differently.
* The references capture ``a`` through an identity module inserted after the layer and read
  ``dL/da`` with a module backward hook; nasx registers a tensor hook on the layer output, which
  receives the same gradient. A layer called more than once in a forward pass contributes once
  per call (the references keep only the last activation and fail on the second call).
* Out-of-memory chunking (``ctx.chunk_size``): saliencies of the chunks are summed, as the
  references' ``split_data``.
* Layers that are never called count 0. NaN/inf are returned as they are.
* Orientation: higher is better (measured on NAS-Bench-201 CIFAR-10 over 100 cells by
  ``benchmarks/naslib_crosscheck.py``; ``benchmarks/results/naslib_crosscheck.json``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._common import batch_chunks, forward_hooks, scored_layers
from .base import ScoreContext, register_proxy

__all__ = ["fisher"]

PAPER = ("Theis et al., Faster gaze prediction with dense networks and Fisher pruning, 2018; "
         "Turner et al., BlockSwap, ICLR 2020; as a NAS proxy: Abdelfattah et al., ICLR 2021")


def fisher(model: nn.Module, batch, ctx: ScoreContext) -> float:
    """Sum over Conv2d/Linear output channels of the Fisher saliency, weighted by fan-in."""
    model.train()
    layers = scored_layers(model)
    saliency: dict[int, torch.Tensor] = {}

    def forward_hook(module: nn.Module, inputs: Any, output: Any) -> None:
        if not isinstance(output, torch.Tensor) or not output.requires_grad:
            return
        act = output.detach()
        key = id(module)

        def grad_hook(grad: torch.Tensor) -> None:
            prod = act * grad.detach()
            s = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
            value = s.double().pow(2).mean(0).mul(0.5)
            saliency[key] = value if key not in saliency else saliency[key] + value

        output.register_hook(grad_hook)

    with forward_hooks(layers, forward_hook):
        for x, y in batch_chunks(batch.x, batch.y, ctx.chunk_size):
            loss = F.cross_entropy(model(x), y)
            params = [p for p in model.parameters() if p.requires_grad]
            if params and loss.requires_grad:
                # the hooks fire during back-propagation; parameter gradients are discarded
                torch.autograd.grad(loss, params, allow_unused=True)
    total = 0.0
    for m in layers:
        value = saliency.get(id(m))
        if value is not None:
            fan = math.prod(m.weight.shape[1:])
            total += float(value.abs().sum()) * fan
    return total


register_proxy(
    "fisher", fisher,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("data", "labels", "grads", "train-mode"),
    paper=PAPER,
    description="Sum over Conv2d/Linear output channels of 0.5*mean_n(sum_xy a*dL/da)^2, each "
    "weighted by the channel's fan-in.",
)
