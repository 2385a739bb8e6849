"""grasp: gradient-signal preservation (Hessian-gradient product) summed over the network.

Papers: Wang, Zhang & Grosse, "Picking Winning Tickets Before Training by Preserving Gradient
Flow", ICLR 2020 (the GraSP saliency ``S(W) = -W * (H g)``); Abdelfattah et al., "Zero-Cost
Proxies for Lightweight NAS", ICLR 2021 (its sum over all weights as a network score).

Definition. With ``L`` the mean cross-entropy of the untrained network on the probe batch,
``g = dL/dW`` (treated as a constant) and ``H`` the Hessian of ``L`` with respect to the scored
weights, ``H g = d(g . dL/dW)/dW`` (a Hessian-vector product by double back-propagation), and

    grasp = sum over layers l, sum over entries of ( -W_l * (H g)_l )

where ``l`` runs over every ``nn.Conv2d`` and ``nn.Linear`` module (subclasses included) and
``W_l`` is its ``weight``. Only these weights enter ``g`` and ``H`` (biases and BatchNorm
parameters are held fixed). Signed values are summed (no absolute value).

Reference implementation followed: samsung/zero-cost-nas ``foresight/pruners/measures/grasp.py``
(``compute_grasp_per_weight``), identical to NASLib
``naslib/predictors/pruners/measures/grasp.py`` (``zerocost`` branch). Details that change
results:

* Sign: ``-W * Hg`` as in both references (the GraSP paper prunes the weights with the *highest*
  ``-W * Hg``; the references negate so that the network-level sum correlates positively with
  accuracy). Temperature ``T = 1`` and one iteration, as the references' defaults.
* BatchNorm in training mode; loss ``F.cross_entropy`` (mean) on one real labelled batch.
* The references run two forward passes (one for ``g``, one with ``create_graph`` for ``H g``);
  in training mode both passes compute the same function, so nasx runs the second one only and
  takes ``g`` from it (detached): the same value, one forward pass fewer.
* Out-of-memory chunking (``ctx.chunk_size``): ``g`` is the sum of the chunks' gradients and the
  Hessian-vector products of the chunks are summed, as the references' ``split_data``.
* The sum is signed and can be negative; NaN/inf are returned as they are.
* Orientation: higher is better (measured on NAS-Bench-201 CIFAR-10 by
  ``benchmarks/naslib_crosscheck.py``: Kendall tau 0.49 over 100 cells,
  ``benchmarks/results/naslib_crosscheck.json``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import accumulate, batch_chunks, layer_weights, sum_float64, weights_require_grad
from .base import ScoreContext, register_proxy

__all__ = ["grasp"]

PAPER = ("Wang et al., Picking Winning Tickets Before Training by Preserving Gradient Flow, "
         "ICLR 2020; as a NAS proxy: Abdelfattah et al., ICLR 2021")


def grasp(model: torch.nn.Module, batch, ctx: ScoreContext) -> float:
    """Sum over Conv2d/Linear weights of -W * (H g) (BatchNorm in training mode)."""
    model.train()
    weights = layer_weights(model)
    chunks = batch_chunks(batch.x, batch.y, ctx.chunk_size)
    hg: list[torch.Tensor | None] = [None] * len(weights)
    with weights_require_grad(weights):
        if len(chunks) == 1:
            x, y = chunks[0]
            loss = F.cross_entropy(model(x), y)
            grad_f = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
            grad_w = [None if g is None else g.detach() for g in grad_f]
            _hvp(weights, grad_w, grad_f, hg)
        else:
            grad_w: list[torch.Tensor | None] = [None] * len(weights)  # type: ignore[no-redef]
            for x, y in chunks:
                loss = F.cross_entropy(model(x), y)
                accumulate(grad_w, torch.autograd.grad(loss, weights, allow_unused=True))
            for x, y in chunks:
                loss = F.cross_entropy(model(x), y)
                grad_f = torch.autograd.grad(loss, weights, create_graph=True,
                                             allow_unused=True)
                _hvp(weights, grad_w, grad_f, hg)
    return sum_float64([-w.detach() * h for w, h in zip(weights, hg) if h is not None])


def _hvp(weights: list[torch.Tensor], grad_w: list[torch.Tensor | None],
         grad_f: tuple[torch.Tensor | None, ...], out: list[torch.Tensor | None]) -> None:
    """Add d(sum_l grad_w[l] . grad_f[l]) / dW to ``out`` (a Hessian-vector product)."""
    z = None
    for gw, gf in zip(grad_w, grad_f):
        if gw is not None and gf is not None:
            term = (gw * gf).sum()
            z = term if z is None else z + term
    if z is None or not z.requires_grad:
        return  # no weight receives gradient: H g is zero
    accumulate(out, torch.autograd.grad(z, weights, allow_unused=True))


register_proxy(
    "grasp", grasp,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("data", "labels", "grads", "train-mode"),
    paper=PAPER,
    description="Sum over Conv2d/Linear weights of -W * (H g), the GraSP saliency.",
)
