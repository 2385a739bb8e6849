"""params and flops: the cost baselines of zero-cost NAS (model size and compute).

Papers: Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021, and Krishnakumar
et al., "NAS-Bench-Suite-Zero: Accelerating Research on Zero Cost Proxies", NeurIPS 2022
Datasets and Benchmarks, which report both as baselines that any proxy should beat.

Definitions (both per network, independent of the weights' values):

* ``params``: the number of parameters, ``sum(p.numel() for p in model.parameters())`` (each
  tensor once, trainable or not), in **millions**. NASLib (``zerocost`` branch,
  ``naslib/predictors/pruners/predictive.py`` with tensorwatch ``ModelStats``) counts the
  parameters of the leaf modules called in one forward pass, divided by 1e6; for networks whose
  parameters all sit in leaf modules that run (NAS-Bench-201), the two counts are equal.
* ``flops``: the compute of one forward pass on **one** input of the probe's shape
  ``(1, C, H, W)``, in **millions** (MFLOPs per image), in NASLib's convention (tensorwatch
  ``model_graph/torchstat/compute_flops.py``, as called by NASLib's ``find_measures`` with
  ``ModelStats(model, [1, C, H, W]).Flops / 1e6``). That convention counts:

  - convolutions and Linear layers as **multiply-accumulates** (MACs: one per multiply-add,
    ``k_h*k_w*C_in/groups*C_out*H_out*W_out`` for a convolution, ``in*out`` for a Linear layer),
    plus ``C_out*H_out*W_out`` for a convolution bias (a Linear bias is not counted);
  - ``BatchNorm2d``: one per input element, two when affine;
  - ReLU-family activations (``ReLU``, ``ReLU6``, ``PReLU``, ``ELU``, ``LeakyReLU``): one per input
    element;
  - ``AvgPool2d`` / ``MaxPool2d``: ``k*k`` per output element;
  - ``AdaptiveAvgPool2d`` / ``AdaptiveMaxPool2d``: per output cell,
    ``(rows + 1) * (cols + 1)`` input elements per channel (tensorwatch's count, which adds one
    to each window side);
  - ``Upsample``: one per output element; everything else (additions of a cell, identity, the
    NAS-Bench-201 ``none`` op, flatten, softmax) counts 0.

  The MACs of convolutions and matrix products are measured with
  ``torch.utils.flop_counter.FlopCounterMode`` (which reports FLOPs = 2 x MACs; nasx divides by
  2), the element counts with forward hooks on leaf modules. Differences from tensorwatch,
  deliberate: a grouped convolution counts ``C_in/groups`` inputs per output (tensorwatch counts
  all ``C_in``, ``groups`` times too many); convolutions and matrix products run outside
  ``nn.Conv2d``/``nn.Linear`` modules are counted; a module called several times counts every
  call (tensorwatch keeps the last). On NAS-Bench-201 the values equal NASLib's ``flops`` column
  exactly (``benchmarks/naslib_crosscheck.py``).

  ``convention="macs"`` gives the FlopCounterMode MACs only (convolutions and matrix products),
  ``convention="flop-counter"`` FlopCounterMode's own count (2 per MAC); both in millions.

Both run in evaluation mode under ``torch.no_grad`` (the training flags are restored afterwards).
Orientation: higher is better for both (larger NAS-Bench-201 networks train to higher accuracy;
measured by ``benchmarks/naslib_crosscheck.py``: Kendall tau 0.63 and 0.60 over 100 cells,
``benchmarks/results/naslib_crosscheck.json``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..errors import ProxyError
from ._common import forward_hooks
from .base import ScoreContext, register_proxy

__all__ = [
    "CONVENTIONS", "count_flops", "elementwise_ops", "flops", "params"]

PAPER_COST = ("baseline; Abdelfattah et al., ICLR 2021; Krishnakumar et al., "
              "NAS-Bench-Suite-Zero, NeurIPS 2022")

#: the counting conventions of :func:`flops`
CONVENTIONS = ("naslib", "macs", "flop-counter")

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.PReLU, nn.ELU, nn.LeakyReLU)


def params(model: nn.Module, batch, ctx: ScoreContext) -> float:
    """Number of parameters of ``model``, in millions."""
    return sum(p.numel() for p in model.parameters()) / 1e6


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def elementwise_ops(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    """Operations of ``module`` that NASLib's convention counts besides the MACs of
    convolutions and Linear layers (a convolution contributes only its bias)."""
    if isinstance(module, nn.Conv2d):
        if module.bias is None:
            return 0
        return int(out.shape[0] * out.shape[1] * out.shape[2] * out.shape[3])
    if isinstance(module, nn.BatchNorm2d):
        return inp.numel() * (2 if module.affine else 1)
    if isinstance(module, _ACTIVATIONS):
        return inp.numel()
    if isinstance(module, (nn.AvgPool2d, nn.MaxPool2d)):
        kh, kw = _pair(module.kernel_size)
        s = _pair(module.stride if module.stride is not None else module.kernel_size)[0]
        ph, pw = _pair(module.padding)
        # tensorwatch's formula: both output sizes use the first stride, padding per axis
        out_w = math.floor((inp.shape[3] + 2 * ph - kh) / float(s) + 1)
        out_h = math.floor((inp.shape[2] + 2 * pw - kw) / float(s) + 1)
        return int(inp.shape[0] * inp.shape[1] * out_w * out_h * kh * kw)
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        h, w = int(inp.shape[2]), int(inp.shape[3])
        oh, ow = int(out.shape[2]), int(out.shape[3])
        total = 0
        for i in range(oh):
            y0, y1 = math.floor(i * h / oh), math.ceil((i + 1) * h / oh)
            for j in range(ow):
                x0, x1 = math.floor(j * w / ow), math.ceil((j + 1) * w / ow)
                total += (y1 - y0 + 1) * (x1 - x0 + 1)
        return int(inp.shape[0] * inp.shape[1] * total)
    if isinstance(module, nn.Upsample):
        return out.numel()
    return 0


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.train(flag)


def count_flops(model: nn.Module, input_shape: tuple[int, ...], convention: str = "naslib",
                dtype: torch.dtype = torch.float32) -> float:
    """Operations of one forward pass of one input of shape ``input_shape`` (``(C, H, W)``), in
    the given convention (absolute count, not millions). Used by the ``flops`` proxy and by the
    ``max_flops`` search constraint, so both speak the same unit."""
    from torch.utils.flop_counter import FlopCounterMode

    if convention not in CONVENTIONS:
        raise ProxyError(f"unknown flops convention {convention!r}; use one of {CONVENTIONS}")
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    x = torch.zeros((1, *input_shape), dtype=dtype, device=device)
    extra = [0]

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        inp = inputs[0] if isinstance(inputs, (tuple, list)) and inputs else inputs
        out = output[0] if isinstance(output, (tuple, list)) else output
        if isinstance(inp, torch.Tensor) and isinstance(out, torch.Tensor):
            extra[0] += elementwise_ops(module, inp, out)

    leaves = [m for m in model.modules() if next(m.children(), None) is None] \
        if convention == "naslib" else []
    with forward_hooks(leaves, hook), _eval_mode(model), torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            model(x)
    total = counter.get_total_flops()
    if convention == "flop-counter":
        return float(total)
    macs = total / 2
    return float(macs + extra[0]) if convention == "naslib" else float(macs)


def flops(model: nn.Module, batch, ctx: ScoreContext, convention: str = "naslib") -> float:
    """Millions of operations of one forward pass on one input of the probe's shape."""
    return count_flops(model, tuple(batch.x.shape[1:]), convention, batch.x.dtype) / 1e6


register_proxy(
    "params", params,
    higher_is_better=True,
    batch_split="invariant",
    needs=("none",),
    paper=PAPER_COST,
    description="Number of parameters, in millions.",
)
register_proxy(
    "flops", flops,
    higher_is_better=True,
    batch_split="invariant",
    needs=("none",),
    paper=PAPER_COST,
    description="Millions of operations per image in NASLib's convention (MACs of convolutions "
    "and Linear layers plus BatchNorm, activation and pooling element counts).",
    convention="naslib",
)
