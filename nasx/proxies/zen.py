"""Zen-score: expressivity of the pre-pooling feature map under a small input perturbation.

Paper: Lin et al., "Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition", ICCV 2021.
Reference implementation followed: ``idstcv/ZenNAS``, ``ZeroShotProxy/compute_zen_score.py``
(``compute_nas_score`` and ``network_weight_gaussian_init``).

Definition. Re-initialise the network with Gaussian weights (every ``nn.Conv2d`` and ``nn.Linear``
weight ~ N(0, 1), their biases 0; every BatchNorm/GroupNorm weight 1 and bias 0). Draw two
Gaussian inputs ``x, e ~ N(0, 1)`` of shape ``(batch_size, *input_shape)`` and let ``F`` be the
feature map just before global average pooling. In training mode::

    Zen = log( mean_b sum_{c,h,w} | F(x) - F(x + gamma * e) | ) + sum_BN log sqrt(mean(running_var))

with ``gamma = 1e-2`` and the second sum over every ``nn.BatchNorm2d``, read *after* the two
forward passes (so each ``running_var`` is ``0.81 + 0.09 v_1 + 0.1 v_2`` from its initial value 1
with momentum 0.1, exactly as the reference reads it). Higher is better.

Details that change results, all explicit:

* **Random data, no labels.** Inputs are Gaussian noise, drawn (like the Gaussian weights, in the
  reference's order: weights module by module, then ``x``, then ``e``) from ``ctx.generator``;
  the probe batch is used only for its input shape when the space gives none.
* **Training mode** (the reference never calls ``eval()``): BatchNorm normalises with batch
  statistics and updates its running statistics, which the BN term reads.
* **One repeat.** The reference averages ``repeat_times=32`` re-initialisations (batch 16) and does
  not reset BatchNorm running statistics between repeats; nasx scores one initialisation
  (``batch_size=16``); repeat with different ``init_seeds`` to average.
* **float32**, as the reference's default (``fp16=False``).
* **The pre-GAP feature map** of an arbitrary ``nn.Module`` is found by this rule, first match:

  1. ``model.forward_pre_GAP(x)`` when the model defines it (the ZenNAS convention);
  2. ``model.pre_gap_module``: a submodule whose *output* is the pre-GAP map (a space can set it);
  3. the *input* of the last call of a global pooling module (``nn.AdaptiveAvgPool2d`` or
     ``nn.AdaptiveMaxPool2d`` with output size 1) during the forward pass;
  4. the last 4-D output of any leaf module called before the last ``nn.Linear`` call (covers
     models that pool functionally, e.g. ``x.mean((2, 3))``).

  For nasx's NAS-Bench-201 networks rule 3 gives the output of the final BN + ReLU, the same map
  as ZenNAS's ``forward_pre_GAP`` on its own networks. No match is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..errors import ProxyError
from ._common import forward_hooks, gaussian_init
from .base import ScoreContext, register_proxy

__all__ = ["zen", "gaussian_init", "pre_gap_features"]

PAPER = "Lin et al., Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition, ICCV 2021"


def _is_global_pool(m: nn.Module) -> bool:
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        size = m.output_size
        sizes = size if isinstance(size, tuple) else (size, size)
        return all(s == 1 for s in sizes)
    return False


def pre_gap_features(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function ``x -> pre-GAP feature map of model(x)`` (rule in the module docstring)."""
    direct = getattr(model, "forward_pre_GAP", None)
    if callable(direct):
        return direct
    target = getattr(model, "pre_gap_module", None)
    if isinstance(target, nn.Module):
        return _capture(model, [target], lambda m, i, o, box: box.__setitem__(0, o))
    pools = [m for m in model.modules() if _is_global_pool(m)]
    if pools:
        def take_input(m: nn.Module, inp: Any, out: Any, box: list) -> None:
            if isinstance(inp, tuple) and inp and isinstance(inp[0], torch.Tensor) \
                    and inp[0].dim() == 4:
                box[0] = inp[0]
        return _capture(model, pools, take_input)
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]

    def take_last(m: nn.Module, inp: Any, out: Any, box: list) -> None:
        if isinstance(m, nn.Linear):
            box[1] = box[0] if box[0] is not None else box[1]
            box[2] = True
        elif isinstance(out, torch.Tensor) and out.dim() == 4:
            box[0] = out

    def fn(x: torch.Tensor) -> torch.Tensor:
        box: list = [None, None, False]
        with forward_hooks(leaves, lambda m, i, o: take_last(m, i, o, box)):
            model(x)
        feat = box[1] if box[2] else box[0]
        if feat is None:
            raise ProxyError(
                "zen: cannot find the pre-GAP feature map (no global pooling module and no "
                "4-D output before a Linear); define model.forward_pre_GAP or "
                "model.pre_gap_module"
            )
        return feat

    return fn


def _capture(model: nn.Module, modules: list[nn.Module],
             record: Callable[[nn.Module, Any, Any, list], None]) -> Callable:
    def fn(x: torch.Tensor) -> torch.Tensor:
        box: list = [None]
        with forward_hooks(modules, lambda m, i, o: record(m, i, o, box)):
            model(x)
        if box[0] is None:
            raise ProxyError("zen: the pre-GAP module was not called in the forward pass")
        return box[0]

    return fn


def zen(model: nn.Module, batch, ctx: ScoreContext, mixup_gamma: float = 1e-2,
        batch_size: int = 16, gaussian: bool = True) -> float:
    """Zen-score of ``model`` (higher is better); see the module docstring."""
    shape = tuple(getattr(ctx.space, "input_shape", None) or tuple(batch.x.shape[1:]))
    device = batch.x.device
    gen = ctx.generator
    if gaussian:
        gaussian_init(model, gen)
    model.train()
    features = pre_gap_features(model)
    with torch.no_grad():
        x = torch.randn((batch_size, *shape), generator=gen, device=device)
        e = torch.randn((batch_size, *shape), generator=gen, device=device)
        out = features(x)
        mixed = features(x + mixup_gamma * e)
        diff = torch.sum(torch.abs(out - mixed), dim=tuple(range(1, out.dim()))).mean()
        bn = 0.0
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d) and m.running_var is not None:
                bn += float(torch.log(torch.sqrt(torch.mean(m.running_var))))
    value = float(torch.log(diff)) + bn
    return value if math.isfinite(value) else math.nan


register_proxy(
    "zen", zen,
    higher_is_better=True,
    batch_split="invariant",
    needs=("none", "train-mode"),
    paper=PAPER,
    description="log of the pre-GAP response to a 1e-2 Gaussian input perturbation plus the log "
    "BN scaling, after Gaussian re-initialisation.",
)
