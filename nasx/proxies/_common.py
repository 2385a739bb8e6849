"""Shared helpers of the classic zero-cost proxies (grad-norm, snip, grasp, synflow, fisher,
jacob-cov).

The reference implementations (samsung/zero-cost-nas ``foresight/pruners/p_utils.py`` and its
copy in NASLib ``naslib/predictors/pruners/p_utils.py``) score a network layer by layer: a
per-layer metric is computed for every module that is an ``nn.Conv2d`` or an ``nn.Linear``
(subclasses included), on the layer's ``weight`` only (biases, BatchNorm affine parameters and
every other parameter are ignored), and the per-layer values are summed. :func:`scored_layers`
is that selection, in ``model.modules()`` order, each layer once.

:func:`batch_chunks` reproduces the references' ``split_data``: when the scorer asks for a chunk
size (after a CUDA out-of-memory error), the batch is cut into consecutive slices that are run
through the network one at a time and whose gradients are accumulated (the sum of the per-chunk
mean losses). With one chunk (the default) this is the plain full-batch computation.

Two helpers serve the other proxies too: :func:`forward_hooks` (forward hooks on some modules
for the duration of a block, removed however the block ends) and :func:`gaussian_init` (the
Gaussian re-initialisation of Zen-NAS and SWAP).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "accumulate",
    "forward_hooks",
    "gaussian_init",
    "loss_weight_grads",
    "batch_chunks",
    "layer_weights",
    "scored_layers",
    "sum_float64",
    "weights_require_grad",
]

#: module types whose ``weight`` the classic proxies score (as ``get_layer_metric_array``)
SCORED_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)


def scored_layers(model: nn.Module) -> list[nn.Module]:
    """The ``nn.Conv2d`` / ``nn.Linear`` modules of ``model`` (each once, in module order)."""
    return [m for m in model.modules() if isinstance(m, SCORED_TYPES)]


def layer_weights(model: nn.Module) -> list[torch.Tensor]:
    """The ``weight`` parameters of :func:`scored_layers` (each tensor once)."""
    out: list[torch.Tensor] = []
    seen: set[int] = set()
    for m in scored_layers(model):
        w = m.weight
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


@contextlib.contextmanager
def weights_require_grad(weights: Sequence[torch.Tensor]) -> Iterator[None]:
    """Make ``weights`` require gradients for the duration of the block, then restore."""
    saved = [w.requires_grad for w in weights]
    try:
        for w in weights:
            w.requires_grad_(True)
        yield
    finally:
        for w, flag in zip(weights, saved):
            w.requires_grad_(flag)


def batch_chunks(x: torch.Tensor, y: torch.Tensor | None,
                 chunk_size: int | None) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Consecutive slices of the batch of at most ``chunk_size`` samples (all when None)."""
    n = int(x.shape[0])
    if chunk_size is None or chunk_size >= n:
        return [(x, y)]
    step = max(1, int(chunk_size))
    return [(x[i:i + step], None if y is None else y[i:i + step]) for i in range(0, n, step)]


def sum_float64(values: Sequence[torch.Tensor]) -> float:
    """Sum of the elements of all ``values`` accumulated in float64 (0.0 for none)."""
    total = torch.zeros((), dtype=torch.float64)
    for v in values:
        total += v.detach().double().sum().cpu()
    return float(total)


def accumulate(total: list[torch.Tensor | None], part: Sequence[torch.Tensor | None]) -> None:
    """``total[i] += part[i]`` in place, treating None as "no gradient yet"."""
    for i, g in enumerate(part):
        if g is not None:
            total[i] = g if total[i] is None else total[i] + g


def loss_weight_grads(model: nn.Module, weights: Sequence[torch.Tensor], x: torch.Tensor,
                      y: torch.Tensor, chunk_size: int | None) -> list[torch.Tensor | None]:
    """dL/dW of the mean cross-entropy for each of ``weights``, summed over the batch chunks as
    the zero-cost references' ``split_data`` does (None for a weight without gradient)."""
    import torch.nn.functional as F

    grads: list[torch.Tensor | None] = [None] * len(weights)
    for xc, yc in batch_chunks(x, y, chunk_size):
        loss = F.cross_entropy(model(xc), yc)
        accumulate(grads, torch.autograd.grad(loss, weights, allow_unused=True))
    return grads


@contextlib.contextmanager
def forward_hooks(modules: Iterable[nn.Module],
                  hook: Callable[[nn.Module, Any, Any], None]) -> Iterator[int]:
    """``hook(module, inputs, output)`` on every call of each of ``modules`` during the block;
    the hooks are removed when it ends, also on an error. Yields how many modules are hooked.

    Example:
        >>> outs = []
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        >>> with forward_hooks(net.modules(), lambda m, i, o: outs.append(type(m).__name__)) as n:
        ...     _ = net(torch.zeros(1, 2))
        >>> n, outs
        (3, ['Linear', 'ReLU', 'Sequential'])
    """
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield len(handles)
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def gaussian_init(model: nn.Module, generator: torch.Generator | None = None) -> None:
    """Re-initialise ``model`` as ZenNAS's and SWAP's ``network_weight_gaussian_init``: every
    ``nn.Conv2d`` / ``nn.Linear`` weight drawn from N(0, 1) (from ``generator``, module by
    module in ``model.modules()`` order) and its bias set to 0; every ``nn.BatchNorm2d`` /
    ``nn.GroupNorm`` weight set to 1 and bias to 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.weight.normal_(0.0, 1.0, generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            if m.weight is not None:
                m.weight.fill_(1.0)
            if m.bias is not None:
                m.bias.zero_()
