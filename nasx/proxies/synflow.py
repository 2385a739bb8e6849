"""synflow: synaptic flow of the linearised network at initialisation, summed over weights.

Papers: Tanaka, Kunin, Yamins & Ganguli, "Pruning neural networks without any data by
iteratively conserving synaptic flow", NeurIPS 2020 (the saliency); Abdelfattah et al.,
"Zero-Cost Proxies for Lightweight NAS", ICLR 2021 (its sum as a network score).

Definition. Replace every parameter by its absolute value, remove the BatchNorm layers, feed one
all-ones input ``1`` of the probe's shape (batch of one) in float64 and let
``R = sum(f(1))`` be the sum of the network's outputs. Then

    synflow = sum over layers l, sum over entries of | W_l * dR/dW_l |

where ``l`` runs over every ``nn.Conv2d`` and ``nn.Linear`` module (subclasses included) and
``W_l`` is its (absolute-valued) ``weight``. No data and no labels are used.

Reference implementation followed: samsung/zero-cost-nas ``foresight/pruners/measures/synflow.py``
(``compute_synflow_per_weight``, registered as ``synflow`` with ``bn=False``), identical in
effect to NASLib ``naslib/predictors/pruners/measures/synflow.py`` (``zerocost`` branch).
Details that change results:

* BatchNorm: removed (each ``_BatchNorm`` module acts as the identity), as the references'
  ``synflow`` (their ``bn=False`` copy). Tanaka et al.'s own code keeps BatchNorm in evaluation
  mode instead; at initialisation (running mean 0, variance 1, weight 1, bias 0) that divides by
  ``sqrt(1 + eps)`` per layer, a near-constant factor, so both choices rank alike; nasx follows
  the zero-cost references so that its values compare to theirs.
* Every parameter (weights, biases, BatchNorm affine parameters) is made non-negative, as the
  references' ``abs_`` over the state dict. The computation runs on a float64 copy of the model,
  so the caller's model is untouched: without BatchNorm the output grows with the product of the
  layer norms and float32 overflows on deep networks.
* The copy is in evaluation mode (only dropout differs, as BatchNorm is removed), so the value is
  deterministic.
* Input: a single all-ones image of the probe's shape ``(1, C, H, W)``.
* Scale: the raw sum is returned. NASLib stores ``log(synflow)`` in NAS-Bench-Suite-Zero
  (``naslib/predictors/zerocost.py``); the logarithm is monotone, so ranks are identical.
* A zero score (no path from input to output) is a valid value; NaN/inf are returned as they are.
* Orientation: higher is better (measured on NAS-Bench-201 CIFAR-10 over 100 cells by
  ``benchmarks/naslib_crosscheck.py``; ``benchmarks/results/naslib_crosscheck.json``).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ._common import layer_weights, sum_float64
from .base import ScoreContext, register_proxy

__all__ = ["remove_batchnorm", "synflow"]

PAPER = ("Tanaka et al., Pruning neural networks without any data by iteratively conserving "
         "synaptic flow, NeurIPS 2020; as a NAS proxy: Abdelfattah et al., ICLR 2021")


def remove_batchnorm(model: nn.Module) -> nn.Module:
    """Replace every BatchNorm module of ``model`` (in place) by ``nn.Identity``."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, nn.Identity())
    return model


def synflow(model: nn.Module, batch, ctx: ScoreContext) -> float:
    """Sum over Conv2d/Linear weights of |W * dR/dW| for the linearised float64 network."""
    net = remove_batchnorm(copy.deepcopy(model)).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    weights = layer_weights(net)
    for w in weights:
        w.requires_grad_(True)
    ones = torch.ones((1, *batch.x.shape[1:]), dtype=torch.float64, device=batch.x.device)
    out = net(ones)
    if isinstance(out, (tuple, list)):
        out = out[-1]
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    return sum_float64([(w.detach() * g).abs() for w, g in zip(weights, grads) if g is not None])


register_proxy(
    "synflow", synflow,
    higher_is_better=True,
    batch_split="invariant",
    needs=("none",),
    paper=PAPER,
    description="Synaptic flow: sum over Conv2d/Linear weights of |W * dR/dW| for the "
    "absolute-valued network without BatchNorm on an all-ones input (float64).",
)
