"""snip: connection sensitivity at initialisation, summed over the network.

Papers: Lee, Ajanthan & Torr, "SNIP: Single-shot Network Pruning based on Connection
Sensitivity", ICLR 2019 (the saliency); Abdelfattah et al., "Zero-Cost Proxies for Lightweight
NAS", ICLR 2021 (its sum over all weights as a network score).

Definition. With ``L`` the mean cross-entropy of the untrained network on the probe batch,

    snip = sum over layers l, sum over entries of | W_l * dL/dW_l |

where ``l`` runs over every ``nn.Conv2d`` and ``nn.Linear`` module (subclasses included) and
``W_l`` is its ``weight`` (biases and BatchNorm parameters are not scored). The references
obtain the same quantity as ``|dL/dc|`` for a multiplicative mask ``c = 1`` on each weight
(``dL/dc = W * dL/dW`` at ``c = 1``); nasx computes ``|W * dL/dW|`` directly.

Reference implementation followed: samsung/zero-cost-nas ``foresight/pruners/measures/snip.py``
(``compute_snip_per_weight``), identical to NASLib
``naslib/predictors/pruners/measures/snip.py`` (``zerocost`` branch). Details that change
results:

* BatchNorm in training mode (batch statistics; the references' ``bn=True``).
* Loss: ``F.cross_entropy``, mean over the batch; one real labelled probe batch.
* Absolute value per weight, then a plain sum (float64) over all scored weights; no
  normalisation by the number of weights (larger networks score higher).
* Out-of-memory chunking (``ctx.chunk_size``): the chunks' gradients are summed before the
  absolute value, as the references' ``split_data``.
* NaN/inf are returned as they are (recorded as failures by the scorer).
* Orientation: higher is better (measured on NAS-Bench-201 CIFAR-10 over 100 cells by
  ``benchmarks/naslib_crosscheck.py``; ``benchmarks/results/naslib_crosscheck.json``).
"""

from __future__ import annotations

import torch

from ._common import layer_weights, loss_weight_grads, sum_float64, weights_require_grad
from .base import ScoreContext, register_proxy

__all__ = ["snip"]

PAPER = ("Lee et al., SNIP: Single-shot Network Pruning based on Connection Sensitivity, "
         "ICLR 2019; as a NAS proxy: Abdelfattah et al., ICLR 2021")


def snip(model: torch.nn.Module, batch, ctx: ScoreContext) -> float:
    """Sum over Conv2d/Linear weights of |W * dL/dW| (BatchNorm in training mode)."""
    model.train()
    weights = layer_weights(model)
    with weights_require_grad(weights):
        grads = loss_weight_grads(model, weights, batch.x, batch.y, ctx.chunk_size)
    return sum_float64([(w.detach() * g).abs() for w, g in zip(weights, grads) if g is not None])


register_proxy(
    "snip", snip,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("data", "labels", "grads", "train-mode"),
    paper=PAPER,
    description="Sum over Conv2d/Linear weights of |W * dL/dW| (SNIP connection sensitivity).",
)
