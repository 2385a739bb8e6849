"""AZ-NAS: expressivity, progressivity, trainability and complexity, aggregated by log-ranks.

Paper: Lee & Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search",
CVPR 2024. Reference implementation followed: ``cvlab-yonsei/AZ-NAS``,
``NB201/ZeroShotProxy/compute_az_nas_score.py`` (``compute_nas_score``, ``init_model``),
``NB201/custom/tss_model.py`` (``TinyNetwork.extract_cell_features``) and the aggregation cell of
``NB201/tss_general.ipynb``. Five proxies:

Let ``F_0, ..., F_L`` be the *cell features* of the network on a batch: the stem output
``F_0`` and the output of every cell ``F_l`` (on NAS-Bench-201 the 15 cells and the two
residual reduction blocks, so ``L = 17``; the rule for other models is below).

``az-expressivity`` -- ``sum_l H(F_l)``, **higher is better**.
    For a feature map ``F`` of shape ``(B, C, H, W)``, the ``B*H*W`` spatial positions are
    samples of a ``C``-dimensional vector; ``Sigma`` is their covariance (centred, divided by
    ``B*H*W``), ``s`` its eigenvalues, ``p = s / sum(s)`` and
    ``H(F) = -sum_c p_c * log(p_c + 1e-8)`` (the entropy of the normalised spectrum: an
    isotropic feature distribution scores ``log C``).
``az-progressivity`` -- ``min_l (H(F_l) - H(F_{l-1}))``, **higher is better** (how steadily
    the expressivity grows with depth; one layer that loses isotropy dominates).
``az-trainability`` -- mean over ``l = L..1`` of ``2 - sigma_l - 1/(sigma_l + 1e-6)``,
    **higher is better** (at most 0, reached at ``sigma = 1``).
    ``sigma_l`` is the largest singular value of ``M_l = G_in^T G_out / (B*H_o*W_o)``, where
    ``G_out`` is a Rademacher (+-1) tensor shaped like ``F_l``, ``G_in = dF_l/dF_{l-1}^T G_out``
    the vector-Jacobian product, both reshaped to ``(positions, channels)``; when the spatial
    size shrinks by ``s``, ``G_in`` is first pixel-unshuffled by ``s`` (channels ``C*s^2``).
    A layer whose ``G_in`` equals ``G_out`` exactly (an identity cell) scores ``-inf``, as in the
    reference, which makes the trainability a recorded failure (ranked last, as the reference's
    ``-inf`` is).
``az-complexity`` -- the FLOPs of the network, **higher is better**: nasx's ``flops`` proxy
    (NASLib's convention, equal on NAS-Bench-201 to the benchmark's FLOPs up to the constant
    terms that do not change ranks; the reference reads the FLOPs from the NATS-Bench API).
``az-nas`` -- population proxy: ``sum_k log(rank_k / n)`` over the four components, ``rank_k``
    the architecture's oriented rank (1 = worst, ``n`` = best) under component ``k`` in the
    population of ``n`` architectures (:func:`nasx.population.log_rank_sum`). Higher is better.

Details that change results, all explicit:

* **Re-initialisation** (``init="kaiming"``, the reference's default ``kaiming_norm_fanin``):
  every ``nn.Conv2d`` / ``nn.Linear`` weight is drawn ``N(0, 2 / fan_in)``
  (``kaiming_normal_(mode="fan_in", nonlinearity="relu")``) and its bias zeroed; every affine
  BatchNorm2d / GroupNorm gets weight 1 and bias 0. Draws come from ``ctx.generator``, module by
  module in ``model.modules()`` order (the order of the reference's ``model.apply`` for leaf
  modules). ``init="none"`` keeps the scorer's initialisation.
* **Random inputs** (``inputs="gaussian"``, the reference's NAS-Bench-201 setting: AZ-NAS is not
  among its ``real_input_metrics``): ``batch_size`` (64, the reference's loader batch) images of
  the space's input shape drawn ``N(0, 1)`` from ``ctx.generator`` after the weights; the probe
  batch only gives the shape and device. ``inputs="probe"`` uses the probe images instead.
* The Rademacher tensors are drawn from ``ctx.generator`` after the inputs, one per layer from
  the last layer to the first (the reference's order, with ``torch.bernoulli``). With
  ``ctx.generator`` seeded like the reference's global generator, initialisation, inputs and
  signs are the same numbers as the reference's (checked in
  ``benchmarks/crosscheck_aznas.py``).
* **Training mode**: BatchNorm normalises with the statistics of the batch (the reference calls
  ``model.train()`` and never ``eval()``).
* **Precision**: the network runs in float32 (as the reference); the covariance, eigenvalues,
  the matrices ``M_l`` and their singular values are computed in float64 here (float32 in the
  reference). A feature map that is identically zero gives ``0/0`` (NaN): a recorded failure
  (the reference maps NaN to ``-inf``, also ranked last).
* **Cell features** of an arbitrary model, first match:

  1. ``model.nasx_cell_features(x)`` when the model defines it (a list of 4-D tensors on the
     autograd graph, in depth order);
  2. a model with a ``stem`` module and a ``cells`` list (nasx's NAS-Bench-201, NAS-Bench-101
     and DARTS / NDS networks; NAS-Bench-101's leaves out the max-pooling between its stacks):
     the output of ``stem`` and of every call of a module of ``cells`` during one
     forward pass, in call order (on NAS-Bench-201 the same tensors as the reference's
     ``extract_cell_features``);
  3. otherwise a :class:`~nasx.errors.ProxyError` naming rules 1 and 2.
* The three per-model scores come from one forward pass and are cached in ``ctx.cache``, so
  scoring ``az-nas`` runs the network once (plus the FLOPs count).
* **Population.** Ranks average ties (``scipy.stats.rankdata``, as the reference) and put
  failures lowest. The reference ranks the whole 15,625-cell space at once; nasx ranks the
  population it is given, so the score of an architecture depends on its population (as for
  ``te-nas``).

Orientation (all higher is better) is the paper's and was measured on NAS-Bench-201
``cifar10_test`` in ``benchmarks/crosscheck_aznas.py --mode truth`` (results in
``benchmarks/results/aznas_truth_cpu.json``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ProxyError
from ._common import forward_hooks
from .base import ScoreContext, register_proxy
from .cost import flops
from .ranks import log_rank_sum

__all__ = [
    "kaiming_fan_in_init",
    "cell_features",
    "spectral_entropy",
    "aznas_scores",
    "expressivity",
    "progressivity",
    "trainability",
]

PAPER = "Lee & Ham, AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search, CVPR 2024"

INITS = ("kaiming", "none")
INPUTS = ("gaussian", "probe")


@torch.no_grad()
def kaiming_fan_in_init(model: nn.Module, generator: torch.Generator | None = None) -> None:
    """AZ-NAS's ``kaiming_norm_fanin`` initialisation (see the module docstring)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu",
                                    generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
            m.weight.fill_(1.0)
            m.bias.zero_()


def cell_features(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The cell features ``F_0..F_L`` of ``model`` on ``x`` (rule in the module docstring)."""
    direct = getattr(model, "nasx_cell_features", None)
    if callable(direct):
        feats = list(direct(x))
    else:
        stem, cells = getattr(model, "stem", None), getattr(model, "cells", None)
        if not isinstance(stem, nn.Module) or not isinstance(cells, (nn.ModuleList, list)):
            raise ProxyError(
                "AZ-NAS: cannot find the cell features of this model; define "
                "model.nasx_cell_features(x) -> list of 4-D tensors, or give the model a "
                "'stem' module and a 'cells' ModuleList"
            )
        feats = []

        def record(module: nn.Module, inp: Any, out: Any) -> None:
            if isinstance(out, torch.Tensor):
                feats.append(out)

        with forward_hooks([stem, *cells], record):
            model(x)
    feats = [f for f in feats if isinstance(f, torch.Tensor) and f.dim() == 4]
    if len(feats) < 2:
        raise ProxyError("AZ-NAS needs at least two 4-D cell features (stem and one cell)")
    return feats


def spectral_entropy(feat: torch.Tensor) -> float:
    """``H(F)``: entropy of the normalised eigenvalues of the channel covariance of ``F``."""
    b, c, h, w = feat.shape
    f = feat.detach().permute(0, 2, 3, 1).reshape(b * h * w, c).double()
    f = f - f.mean(0, keepdim=True)
    sigma = f.T @ f / f.shape[0]
    s = torch.linalg.eigvalsh(sigma.cpu())
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum())


def _layer_trainability(f_out: torch.Tensor, f_in: torch.Tensor,
                        generator: torch.Generator | None) -> float:
    signs = torch.bernoulli(torch.full_like(f_out, 0.5), generator=generator)
    g_out = (signs - 0.5) * 2
    (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True)
    if g_in.shape == g_out.shape and bool(torch.all(g_in == g_out)):
        return -math.inf
    if g_out.shape[2:] != g_in.shape[2:]:
        stride = int(g_in.shape[2] / g_out.shape[2])
        g_in = nn.functional.pixel_unshuffle(g_in, stride)
    bo, co, ho, wo = g_out.shape
    ci = g_in.shape[1]
    go = g_out.permute(0, 2, 3, 1).reshape(-1, co).double()
    gi = g_in.permute(0, 2, 3, 1).reshape(-1, ci).double()
    if gi.shape[0] != go.shape[0]:
        raise ProxyError(
            f"AZ-NAS: cannot match positions of consecutive features {tuple(f_in.shape)} -> "
            f"{tuple(f_out.shape)}"
        )
    m = gi.T @ go / (bo * ho * wo)
    top = float(torch.linalg.svdvals(m.cpu()).max())
    return -top - 1.0 / (top + 1e-6) + 2.0


def aznas_scores(model: nn.Module, batch, ctx: ScoreContext, init: str = "kaiming",
                 inputs: str = "gaussian", batch_size: int = 64) -> dict[str, float]:
    """``{"expressivity", "progressivity", "trainability"}`` of ``model`` (one forward pass;
    cached in ``ctx.cache`` per option set)."""
    if init not in INITS:
        raise ProxyError(f"AZ-NAS: unknown init {init!r}; use one of {', '.join(INITS)}")
    if inputs not in INPUTS:
        raise ProxyError(f"AZ-NAS: unknown inputs {inputs!r}; use one of {', '.join(INPUTS)}")
    if inputs == "gaussian" and batch_size < 1:
        raise ProxyError("AZ-NAS: batch_size must be positive")
    key = ("aznas.scores", init, inputs, batch_size)
    if key in ctx.cache:
        return ctx.cache[key]
    gen = ctx.generator
    device = batch.x.device
    if init == "kaiming":
        kaiming_fan_in_init(model, gen)
    if inputs == "gaussian":
        shape = tuple(getattr(ctx.space, "input_shape", None) or tuple(batch.x.shape[1:]))
        x = torch.randn((batch_size, *shape), generator=gen, device=device)
    else:
        x = batch.x
    model.train()
    with torch.enable_grad():
        feats = cell_features(model, x)
        entropies = np.array([spectral_entropy(f) for f in feats])
        layers = []
        for i in reversed(range(1, len(feats))):
            if not (feats[i].requires_grad and feats[i - 1].requires_grad):
                raise ProxyError("AZ-NAS: cell features are not on the autograd graph")
            layers.append(_layer_trainability(feats[i], feats[i - 1], gen))
    out = {
        "expressivity": float(np.sum(entropies)),
        "progressivity": float(np.min(entropies[1:] - entropies[:-1])),
        "trainability": float(np.mean(layers)),
    }
    ctx.cache[key] = out
    return out


def expressivity(model: nn.Module, batch, ctx: ScoreContext, init: str = "kaiming",
                 inputs: str = "gaussian", batch_size: int = 64) -> float:
    """AZ-NAS expressivity: sum over cell features of the spectral entropy (higher is better)."""
    v = aznas_scores(model, batch, ctx, init, inputs, batch_size)["expressivity"]
    return v if math.isfinite(v) else math.nan


def progressivity(model: nn.Module, batch, ctx: ScoreContext, init: str = "kaiming",
                  inputs: str = "gaussian", batch_size: int = 64) -> float:
    """AZ-NAS progressivity: smallest entropy increase between consecutive cells."""
    v = aznas_scores(model, batch, ctx, init, inputs, batch_size)["progressivity"]
    return v if math.isfinite(v) else math.nan


def trainability(model: nn.Module, batch, ctx: ScoreContext, init: str = "kaiming",
                 inputs: str = "gaussian", batch_size: int = 64) -> float:
    """AZ-NAS trainability: mean of ``2 - s - 1/s`` over layer Jacobian spectral norms ``s``."""
    v = aznas_scores(model, batch, ctx, init, inputs, batch_size)["trainability"]
    return v if math.isfinite(v) else math.nan


register_proxy(
    "az-expressivity", expressivity,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("none", "train-mode"),
    paper=PAPER + " (expressivity)",
    description="Sum over cell outputs of the entropy of the channel-covariance spectrum "
    "(Kaiming re-init, 64 Gaussian inputs).",
)
register_proxy(
    "az-progressivity", progressivity,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("none", "train-mode"),
    paper=PAPER + " (progressivity)",
    description="Smallest increase of the spectral entropy from one cell output to the next.",
)
register_proxy(
    "az-trainability", trainability,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("none", "grads", "train-mode"),
    paper=PAPER + " (trainability)",
    description="Mean of 2 - s - 1/s over cells, s the spectral norm of a Rademacher-probed "
    "cell Jacobian.",
)
register_proxy(
    "az-complexity", flops,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("none",),
    paper=PAPER + " (complexity: FLOPs)",
    description="FLOPs of one forward pass in millions (nasx's flops, NASLib convention).",
)
register_proxy(
    "az-nas",
    components=("az-expressivity", "az-progressivity", "az-trainability", "az-complexity"),
    combine=log_rank_sum,
    higher_is_better=True,
    batch_split="sensitive",
    needs=("none", "grads", "train-mode"),
    paper=PAPER,
    description="Sum of log(rank/n) of expressivity, progressivity, trainability and FLOPs "
    "over the population.",
)
