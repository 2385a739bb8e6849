"""grad-norm: the summed per-layer Euclidean norm of the loss gradient at initialisation.

Paper: Abdelfattah, Mehrotra, Dudziak & Lane, "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021 (Section 3, ``grad_norm``).

Definition. With ``L`` the mean cross-entropy of the untrained network on the probe batch,

    grad-norm = sum over layers l of || dL / dW_l ||_2

where ``l`` runs over every ``nn.Conv2d`` and ``nn.Linear`` module (subclasses included) and
``W_l`` is that layer's ``weight`` (biases and BatchNorm parameters are not scored); the norm is
the Frobenius norm of the whole weight tensor. A layer whose weight receives no gradient counts 0.

Reference implementation followed: samsung/zero-cost-nas
``foresight/pruners/measures/grad_norm.py`` (``get_grad_norm_arr``), identical to NASLib
``naslib/predictors/pruners/measures/grad_norm.py`` on the ``zerocost`` branch; the per-layer
values are summed as in their ``find_measures``. Details that change results:

* BatchNorm in training mode (batch statistics; the references' ``bn=True``): samples are
  coupled through the batch statistics, so the value depends on the batch composition and size.
* Loss: ``F.cross_entropy`` with mean reduction over the batch.
* Data: one real probe batch with labels (NASLib's NAS-Bench-Suite-Zero used 64 augmented
  CIFAR-10 training images).
* Per-layer norms are summed (not squared and summed, not averaged), in float64.
* Out-of-memory chunking (``ctx.chunk_size``): gradients of the chunks' mean losses are summed
  before the norms are taken, as the references' ``split_data``.
* NaN/inf are returned as they are (the scorer records them as failures).
* Orientation: higher is better (measured on NAS-Bench-201 CIFAR-10 over 100 cells by
  ``benchmarks/naslib_crosscheck.py``; ``benchmarks/results/naslib_crosscheck.json``).
"""

from __future__ import annotations

import torch

from ._common import layer_weights, loss_weight_grads, sum_float64, weights_require_grad
from .base import ScoreContext, register_proxy

__all__ = ["grad_norm"]

PAPER = ("Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021 (grad_norm)")


def grad_norm(model: torch.nn.Module, batch, ctx: ScoreContext) -> float:
    """Sum over Conv2d/Linear layers of the L2 norm of dL/dW (BatchNorm in training mode)."""
    model.train()
    weights = layer_weights(model)
    with weights_require_grad(weights):
        grads = loss_weight_grads(model, weights, batch.x, batch.y, ctx.chunk_size)
    norms = [g.double().norm() for g in grads if g is not None]
    return sum_float64(norms)


register_proxy(
    "grad-norm", grad_norm,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("data", "labels", "grads", "train-mode"),
    paper=PAPER,
    description="Sum over Conv2d/Linear layers of the L2 norm of the loss gradient of the "
    "layer weight.",
)
