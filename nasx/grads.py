"""Per-sample gradients with ``torch.func`` and streaming reductions over them.

``per_sample_grads`` computes, for every sample of a batch, the gradient of that sample's loss
with respect to the model's parameters: ``vmap`` over ``grad`` of a ``functional_call`` of the
model on a batch of one. Samples are processed in chunks so memory stays bounded.

BatchNorm semantics: under ``vmap`` every sample is a batch of its own, so a BatchNorm layer in
training mode normalises each sample by *its own* statistics (over its spatial positions), exactly
as if the samples were fed one at a time (a batch-size-1 loop). Running statistics are neither used
nor updated. This is the documented nasx semantics for per-sample gradients; the alternative
(batch statistics shared across samples) couples the samples' gradients.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

__all__ = ["per_sample_grads", "loop_per_sample_grads", "per_sample_bn"]


@contextlib.contextmanager
def per_sample_bn(model: nn.Module) -> Iterator[nn.Module]:
    """Put BatchNorm layers in per-sample mode (batch statistics, no running buffers) and the
    model in training mode; restore everything on exit."""
    saved = []
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            saved.append((m, m.track_running_stats, m.running_mean, m.running_var,
                          m.num_batches_tracked, m.training))
            m.track_running_stats = False
            m.running_mean = None
            m.running_var = None
            m.num_batches_tracked = None
    was_training = model.training
    model.train()
    try:
        yield model
    finally:
        model.train(was_training)
        for m, trs, rm, rv, nbt, tr in saved:
            m.track_running_stats = trs
            m.running_mean = rm
            m.running_var = rv
            m.num_batches_tracked = nbt
            m.train(tr)


def _default_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits, target)


def per_sample_grads(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    chunk_size: int | None = None,
    params: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Per-sample gradients ``{name: tensor of shape (n, *param.shape)}``.

    Args:
        model: the network; only parameters with ``requires_grad`` are differentiated.
        x: inputs, shape ``(n, ...)``.
        y: targets, shape ``(n,)``.
        loss_fn: ``loss(logits, target)`` for a batch of one (default cross-entropy).
        chunk_size: samples per vmap call (bounds memory); None = all at once.
        params: parameters to differentiate (default: all trainable ones).

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> g = per_sample_grads(net, torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]))
        >>> tuple(g["1.weight"].shape)
        (5, 3, 4)
    """
    from torch.func import functional_call, grad, vmap

    loss_fn = loss_fn or _default_loss
    if params is None:
        params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def sample_loss(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return loss_fn(out, yi.unsqueeze(0))

    with per_sample_bn(model):
        fn = vmap(grad(sample_loss), in_dims=(None, 0, 0), chunk_size=chunk_size,
                  randomness="different")
        return fn(params, x, y)


def loop_per_sample_grads(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Reference implementation: an explicit loop, one backward pass per sample (batch of one),
    with the same BatchNorm semantics as :func:`per_sample_grads`. Slow; for tests."""
    loss_fn = loss_fn or _default_loss
    names = [k for k, v in model.named_parameters() if v.requires_grad]
    out: dict[str, list[torch.Tensor]] = {k: [] for k in names}
    with per_sample_bn(model):
        for i in range(x.shape[0]):
            model.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[i : i + 1]), y[i : i + 1])
            params = [p for _, p in model.named_parameters() if p.requires_grad]
            gs = torch.autograd.grad(loss, params, allow_unused=True)
            for k, p, g in zip(names, params, gs):
                out[k].append(torch.zeros_like(p) if g is None else g.detach())
    return {k: torch.stack(v) for k, v in out.items()}
