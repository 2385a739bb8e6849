"""TE-NAS: NTK condition number (trainability) and linear-region count (expressivity).

Paper: Chen, Gong & Wang, "Neural Architecture Search on ImageNet in Four GPU Hours: A
Theoretically Inspired Perspective", ICLR 2021. Reference implementation followed:
``VITA-Group/TENAS``, ``lib/procedures/ntk.py`` (``get_ntk_n``),
``lib/procedures/linear_region_counter.py`` (``LinearRegionCount``, ``Linear_Region_Collector``)
and the settings of ``prune_tenas.py`` / ``prune_launch.py``. Three proxies:

``ntk`` -- condition number of the empirical NTK, **lower is better**.
    For a probe batch of ``N`` images, ``J[i] = d(sum_c f_c(x_i)) / d theta`` (the gradient of the
    sum of sample ``i``'s logits) over every parameter whose name contains ``"weight"`` (conv,
    linear *and* BatchNorm weights; no biases), ``Theta = J J^T`` and
    ``ntk = lambda_max(Theta) / lambda_min(Theta)``.
    The network is in **training mode** and the whole batch is forwarded at once
    (``train_mode=True`` in TE-NAS), so BatchNorm couples the samples: ``J[i]`` is the gradient of
    sample ``i``'s logits through the batch statistics. Eigenvalues are computed in float64 here
    (``torch.symeig`` in float32 in the reference, whose smallest eigenvalue can come out
    non-positive for near-singular kernels). A NaN condition number is a recorded failure (the
    reference replaces it by 100000), and so is ``lambda_min <= 0``. TE-NAS uses the default
    PyTorch initialisation (its ``--init kaiming_normal`` does not match the names its
    ``init_model`` tests, so no re-initialisation happens), one batch of real images
    (``batch_size`` 72 in ``prune_launch.py`` for NAS-Bench-201) and averages ``repeat=3`` batches;
    nasx scores the one probe batch it is given (use ``init_seeds`` / the batch size to repeat).

``linear-regions`` -- number of distinct ReLU activation patterns, **higher is better**.
    ``n_samples`` inputs are forwarded in chunks of ``chunk`` (TE-NAS: 3 chunks of 1000, BatchNorm
    in training mode, so each chunk is normalised by its own statistics); for every ``nn.ReLU``
    whose input is 4-D the sign pattern of its output is recorded, the patterns of all such ReLUs
    are concatenated per input, and the score is the number of distinct concatenated patterns
    (the reference computes the same number as ``sum_i 1 / #{j: pattern_j = pattern_i}`` with
    half-precision products; nasx compares packed bit patterns exactly).
    TE-NAS counts regions of a *thin* network: one cell with ``C = 1`` channel, no stem, followed
    by BatchNorm + ReLU, fed ``1 x 3 x 3`` random crops of one random channel of real training
    images (``Linear_Region_Collector(input_size=(1000, 1, 3, 3), sample_batch=3)``). A full-width
    network distinguishes every input (the count saturates at ``n_samples``), so the thin network
    is what makes the count informative. The thin network is obtained, in this order, from:

    1. ``model.nasx_thin_model(thin_channels)`` when the model defines it (the hook through which
       a space provides its TE-NAS thin network; it takes ``thin_channels``-channel inputs).
       NAS-Bench-201 networks (nasx's ``nasbench201`` builder, supernets included) define it:
       the first cell's ops are rebuilt with ``C = thin_channels`` (1 by default) followed by
       ``BatchNorm2d + ReLU``, as TE-NAS's ``depth=1, use_stem=False`` supernet. DARTS and NDS
       networks (``NetworkCIFAR``, supernets included) define it too: their normal cell with
       ``C = thin_channels`` and reduction cell with ``2 * thin_channels``, no stem, then
       ``BatchNorm2d + ReLU``, as TE-NAS's DARTS thin network (``depth=2, use_stem=False,
       stem_multiplier=1``). The thin network is initialised from ``ctx.seed`` (PyTorch default
       initialisation, as TE-NAS), independently of ``model``'s weights;
    2. otherwise the model itself, fed crops of all input channels (``thin_channels`` ignored);
       its count saturates quickly, which the docstring of :func:`linear_regions` states.

    Inputs are crops of the probe images (already normalised), position, image and channel drawn
    with ``ctx.generator``; ``crop=None`` uses full images.

``te-nas`` -- population proxy: the sum of each architecture's oriented ranks under ``ntk`` and
    ``linear-regions`` over the population being ranked (TE-NAS ranks candidates by both and sums
    the ranks; :func:`nasx.population.rank_sum`), higher is better. Ties share the average rank
    (TE-NAS gives tied values the same rank too, as dense ranks; only the spacing differs).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..errors import ProxyError
from ._common import forward_hooks
from .base import ScoreContext, register_proxy
from .ranks import rank_sum

__all__ = [
    "ntk_condition_number",
    "ntk_matrix",
    "linear_regions",
    "count_patterns",
    "thin_model",
]

PAPER = ("Chen, Gong & Wang, Neural Architecture Search on ImageNet in Four GPU Hours: "
         "A Theoretically Inspired Perspective, ICLR 2021")


# -- NTK ---------------------------------------------------------------------------------------
def ntk_matrix(model: nn.Module, x: torch.Tensor, train_mode: bool = True,
               rows_per_pass: int | None = None,
               memory_budget: int | None = None) -> torch.Tensor:
    """The empirical NTK ``J J^T`` (float64, ``N x N``) of TE-NAS on inputs ``x``.

    The rows ``J[i]`` come from vmapped backward passes (``is_grads_batched``) over the one
    batched forward, ``rows_per_pass`` rows at a time (default: as many as the activation
    gradients of ``memory_budget`` bytes allow), on every device; a model with an op that has no
    batching rule falls back to one backward per row. Both give the same Jacobian (tested).
    ``J`` is held in float32 (``N x P``) and ``J J^T`` accumulated in float64 one block of
    columns at a time, so ``J`` is never held in float64.
    """
    from ..grads import activation_bytes, default_memory_budget

    params = [p for name, p in model.named_parameters() if "weight" in name and p.requires_grad]
    if not params:
        raise ProxyError("NTK: the model has no trainable parameter named '*weight*'")
    model.train(train_mode)
    n = int(x.shape[0])
    with torch.enable_grad():
        out, act_bytes = activation_bytes(model, x)
        if isinstance(out, (tuple, list)):
            out = out[-1]
        per_sample = out.reshape(n, -1).sum(1)
        budget = int(memory_budget or default_memory_budget(x.device))
        step = rows_per_pass or max(1, min(n, budget // max(1, 2 * act_bytes)))
        eye = torch.eye(n, device=x.device, dtype=per_sample.dtype)
        rows: list[torch.Tensor] = []  # per pass: the (r, P) block of J, all parameters
        for start in range(0, n, step):
            stop = min(n, start + step)
            try:
                gs = torch.autograd.grad(per_sample, params, grad_outputs=eye[start:stop],
                                         retain_graph=True, is_grads_batched=True,
                                         allow_unused=True)
                # one fresh block per pass: the batched gradients can be views of larger
                # buffers of the backward pass, which keeping them would keep alive
                block = torch.cat([g.reshape(stop - start, -1) for g in gs if g is not None], 1)
                del gs
            except RuntimeError as exc:  # an op without a batching rule: one row at a time
                if "batch" not in str(exc).lower() and "vmap" not in str(exc).lower():
                    raise
                block = torch.stack([
                    torch.cat([g.reshape(-1) for g in torch.autograd.grad(
                        per_sample[i], params, retain_graph=True, allow_unused=True)
                        if g is not None])
                    for i in range(start, stop)])
            rows.append(block)
    jac = torch.cat(rows)
    del rows
    theta = torch.zeros((n, n), dtype=torch.float64, device=x.device)
    cols = 1 << 16  # J is converted to float64 one block of columns at a time
    for c in range(0, jac.shape[1], cols):
        part = jac[:, c:c + cols].double()
        theta += part @ part.T
    return theta


def ntk_condition_number(model: nn.Module, batch, ctx: ScoreContext,
                         train_mode: bool = True) -> float:
    """TE-NAS NTK condition number ``lambda_max / lambda_min`` (lower is better)."""
    if int(batch.x.shape[0]) < 2:
        raise ProxyError("NTK condition number needs a probe batch of at least two images")
    theta = ntk_matrix(model, batch.x, train_mode=train_mode)
    eig = torch.linalg.eigvalsh(theta.cpu())  # ascending
    lo, hi = float(eig[0]), float(eig[-1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0.0:
        return math.nan
    return hi / lo


# -- linear regions ----------------------------------------------------------------------------
def count_patterns(patterns: torch.Tensor) -> int:
    """Number of distinct rows of a binary ``(n, units)`` tensor."""
    p = patterns.to(torch.bool).cpu()
    n, units = p.shape
    pad = (-units) % 8
    if pad:
        p = torch.cat([p, torch.zeros(n, pad, dtype=torch.bool)], 1)
    weights = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)
    packed = (p.reshape(n, -1, 8).to(torch.uint8) * weights).sum(-1, dtype=torch.uint8)
    return int(torch.unique(packed, dim=0).shape[0])


def thin_model(model: nn.Module, ctx: ScoreContext, channels: int = 1) -> tuple[nn.Module, bool]:
    """The network whose linear regions are counted and whether it is a thin copy (see the
    module docstring for the rule). Thin copies are initialised from ``ctx.seed``.

    A space offers its thin network through the ``nasx_thin_model(channels)`` method of the
    networks it builds (returning an ``nn.Module``, or None when it has none); this proxy knows
    no space's classes."""
    make = getattr(model, "nasx_thin_model", None)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if callable(make):
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(ctx.seed)
            thin = make(channels)
        if thin is not None:
            return thin.to(device), True
    return model, False


def _crops(x: torch.Tensor, n: int, crop: int | None, channels: int | None,
           generator: torch.Generator | None) -> torch.Tensor:
    """``n`` random crops of the images ``x`` (N, C, H, W): image, position and (when
    ``channels`` is set) channels drawn from ``generator``."""
    num, c, h, w = x.shape
    dev = x.device
    size = crop or h
    if size > h or size > w:
        raise ProxyError(f"linear-regions: crop {size} is larger than the images ({h}x{w})")
    idx = torch.randint(num, (n,), generator=generator, device=dev)
    top = torch.randint(h - size + 1, (n,), generator=generator, device=dev)
    left = torch.randint(w - size + 1, (n,), generator=generator, device=dev)
    rows = top[:, None] + torch.arange(size, device=dev)[None, :]
    cols = left[:, None] + torch.arange(size, device=dev)[None, :]
    imgs = x[idx]  # (n, C, H, W)
    out = imgs[torch.arange(n, device=dev)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    out = out.permute(0, 3, 1, 2)  # (n, C, size, size)
    if channels is not None and channels < c:
        pick = torch.stack([torch.randperm(c, generator=generator, device=dev)[:channels]
                            for _ in range(n)])
        pick, _ = pick.sort(1)
        out = torch.gather(out, 1, pick[:, :, None, None].expand(-1, -1, size, size))
    return out.contiguous()


def relu_patterns(net: nn.Module, inputs: torch.Tensor, chunk: int,
                  train_mode: bool = True) -> torch.Tensor:
    """Binary activation patterns ``(n, units)`` of every ``nn.ReLU`` with 4-D input."""
    feats: list[torch.Tensor] = []

    def hook(module: nn.Module, inp: Any, out: torch.Tensor) -> None:
        if isinstance(inp, tuple) and inp[0].dim() == 4:
            feats.append((out.detach() > 0).reshape(out.shape[0], -1))

    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    net.train(train_mode)
    rows = []
    with forward_hooks(relus, hook), torch.no_grad():
        for start in range(0, inputs.shape[0], chunk):
            feats.clear()
            net(inputs[start:start + chunk])
            if not feats:
                raise ProxyError("linear-regions: no nn.ReLU with a 4-D input was called")
            rows.append(torch.cat(feats, 1))
    return torch.cat(rows, 0)


def linear_regions(model: nn.Module, batch, ctx: ScoreContext, n_samples: int = 3000,
                   chunk: int = 1000, crop: int | None = 3, thin_channels: int = 1,
                   train_mode: bool = True) -> float:
    """TE-NAS linear-region count: distinct ReLU patterns over ``n_samples`` inputs (higher is
    better). On a network without a thin copy (rule 2 of the module docstring) full images are
    used when ``crop`` does not fit it, and the count saturates at ``n_samples`` for wide nets."""
    if n_samples < 1 or chunk < 1:
        raise ProxyError("linear-regions: n_samples and chunk must be positive")
    net, thin = thin_model(model, ctx, thin_channels)
    x = batch.x
    if thin:
        inputs = _crops(x, n_samples, crop, thin_channels, ctx.generator)
    else:
        inputs = _crops(x, n_samples, crop, None, ctx.generator)
        try:
            relu_patterns(net, inputs[:2], chunk, train_mode)
        except (RuntimeError, ProxyError):
            inputs = _crops(x, n_samples, None, None, ctx.generator)
    return float(count_patterns(relu_patterns(net, inputs, chunk, train_mode)))


register_proxy(
    "ntk", ntk_condition_number,
    higher_is_better=False,
    batch_split="invariant",
    needs=("data", "grads", "train-mode"),
    paper=PAPER + " (NTK condition number)",
    description="Condition number of the empirical NTK of the summed logits (train-mode BN).",
)
register_proxy(
    "linear-regions", linear_regions,
    # 2: DARTS and NDS networks count on TE-NAS's thin network (were: the full network)
    version="2",
    higher_is_better=True,
    batch_split="invariant",
    needs=("data", "train-mode"),
    paper=PAPER + " (number of linear regions)",
    description="Distinct ReLU activation patterns of TE-NAS's thin network on 3000 3x3 crops.",
)
register_proxy(
    "te-nas",
    components=("ntk", "linear-regions"),
    combine=rank_sum,
    higher_is_better=True,
    batch_split="invariant",
    needs=("data", "grads", "train-mode"),
    paper=PAPER,
    description="Sum of the oriented ranks of ntk and linear-regions over the population.",
)

