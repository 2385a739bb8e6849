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
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError, NasxError

__all__ = [
    "per_sample_grads",
    "loop_per_sample_grads",
    "per_sample_bn",
    "capture_per_sample_grads",
    "capture_supported",
    "UnsupportedModel",
    "stream_per_sample_grads",
    "default_memory_budget",
    "default_activation_budget",
    "activation_bytes",
    "per_sample_activation_bytes",
    "GRAD_METHODS",
]


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


# -- batched per-sample gradients: one forward/backward, gradients captured layer by layer --------
class UnsupportedModel(NasxError):
    """The model has a parameter the batched capture cannot handle (use the vmap route)."""


#: module types whose parameters :func:`capture_per_sample_grads` computes per sample
CAPTURE_TYPES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)

Consumer = Callable[[str, torch.Tensor], None]


def capture_supported(model: nn.Module, names: set[str] | None = None) -> str | None:
    """None when every trainable parameter (of ``names``, default all) belongs, as ``weight``
    or ``bias``, to a module the batched capture handles; otherwise the reason it does not."""
    owned: set[str] = set()
    for mname, m in model.named_modules():
        direct = [n for n, p in m.named_parameters(recurse=False) if p.requires_grad]
        if not direct:
            continue
        full = [f"{mname}.{n}" if mname else n for n in direct]
        if names is not None and not any(f in names for f in full):
            continue
        if type(m) not in CAPTURE_TYPES:
            return f"module {mname or '<root>'} ({type(m).__name__}) holds parameters"
        if set(direct) - {"weight", "bias"}:
            return f"module {mname} has parameters other than weight/bias"
        if isinstance(m, nn.Conv2d) and m.padding_mode != "zeros":
            return f"conv {mname} uses padding_mode={m.padding_mode!r}"
        owned.update(full)
    wanted = names if names is not None else {
        n for n, p in model.named_parameters() if p.requires_grad}
    missing = wanted - owned
    if missing:
        return f"parameters {sorted(missing)[:3]} are not owned by a supported module"
    return None


def _conv_padding(m: nn.Conv2d) -> tuple[int, int]:
    if isinstance(m.padding, str):
        if m.padding == "valid":
            return (0, 0)
        # "same" (stride 1): total padding d*(k-1), split evenly (odd kernels)
        pads = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        if any(p % 2 for p in pads):
            raise UnsupportedModel(f"conv padding='same' with an even kernel {m.kernel_size}")
        return (pads[0] // 2, pads[1] // 2)
    return tuple(m.padding)  # type: ignore[return-value]


def _conv_weight_grads(m: nn.Conv2d, x: torch.Tensor, gout: torch.Tensor) -> torch.Tensor:
    """Per-sample ``dL/dW`` of a conv: ``(n, *W.shape)`` from its input and output gradient.

    Three exact routes, chosen by the conv's shape (never by timing, so a conv always takes the
    same route): a 1x1 stride-1 conv is a batched matrix product of output gradient and input;
    a grouped (e.g. depthwise) conv is one grouped convolution of the input with the output
    gradient as kernel (samples and groups become the groups; stride and dilation swap roles);
    any other conv is the weight gradient of one grouped convolution whose groups are the
    samples (the batch folded into the channels), i.e. the library's own weight-gradient kernel
    run once for all samples.
    """
    n, cin, h, w = x.shape
    groups = m.groups
    cout, cin_g, kh, kw = m.weight.shape
    cout_g = cout // groups
    pad = _conv_padding(m)
    if (kh, kw) == (1, 1) and tuple(m.stride) == (1, 1) and pad == (0, 0):
        go = gout.reshape(n, groups, cout_g, -1)
        cols = x.reshape(n, groups, cin_g, -1)
        g = torch.matmul(go, cols.transpose(2, 3))
        return g.reshape(n, cout, cin_g, kh, kw)
    if groups > 1:
        xt = x.reshape(n, groups, cin_g, h, w).permute(2, 0, 1, 3, 4).reshape(
            cin_g, n * groups, h, w)
        wt = gout.reshape(n * groups * cout_g, 1, gout.shape[2], gout.shape[3])
        g = F.conv2d(xt, wt, padding=pad, stride=m.dilation, dilation=m.stride,
                     groups=n * groups)[:, :, :kh, :kw]
        return g.reshape(cin_g, n, cout, kh, kw).permute(1, 2, 0, 3, 4)
    g = torch.nn.grad.conv2d_weight(
        x.reshape(1, n * cin, h, w), (n * cout, cin_g, kh, kw),
        gout.reshape(1, n * cout, gout.shape[2], gout.shape[3]),
        stride=m.stride, padding=pad, dilation=m.dilation, groups=n)
    return g.reshape(n, cout, cin_g, kh, kw)


def _instance_bn_forward(m: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm on a batch of one = per-sample, per-channel normalisation over positions: one
    batch norm of the ``(1, n * C, H, W)`` view, the affine fused into it (as the library's
    instance norm computes it, without the separate affine ops that would keep one more
    activation per layer for the backward pass)."""
    n, c = x.shape[:2]
    weight = m.weight.repeat(n) if m.affine else None
    bias = m.bias.repeat(n) if m.affine else None
    out = F.batch_norm(x.reshape(1, n * c, *x.shape[2:]), None, None, weight, bias,
                       training=True, momentum=0.0, eps=m.eps)
    return out.view_as(x)


def _sample_chunks(n: int, per_sample_bytes: int, budget: int) -> int:
    return max(1, min(n, budget // max(1, per_sample_bytes)))


def capture_per_sample_grads(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    consume: Consumer,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    names: set[str] | None = None,
    memory_budget: int | None = None,
) -> None:
    """Per-sample gradients by one batched forward and backward pass.

    Under nasx's per-sample BatchNorm semantics the samples of a batch are independent: a
    BatchNorm on a batch of one normalises each channel over the sample's own positions (instance
    statistics with BatchNorm's affine). So one batched forward with every ``BatchNorm2d``
    computed that way, and one backward of the *sum* of the per-sample losses, give every layer's
    output gradient of every sample at once; each parameter's per-sample gradient is then the
    per-sample product of the layer's input and output gradient (conv: unfolded input times
    output gradient; linear: outer product; BatchNorm: sums over positions of the output gradient
    times the normalised input, and of the output gradient). The parameters themselves are
    never differentiated as a batch (they are detached for the pass), so the backward computes
    activation gradients only.

    Each parameter's per-sample gradients are handed to ``consume(name, g)`` with ``g`` of shape
    ``(n, numel)``, layer by layer during the backward pass, then dropped: memory is one plain
    batched backward plus the per-sample gradients of one layer (unfolded inputs are cut into
    sample chunks of at most ``memory_budget`` bytes).

    Raises:
        UnsupportedModel: a trainable parameter outside ``Conv2d``/``Linear``/``BatchNorm2d``, a
            module called more than once (shared weights), or a layer whose output does not
            depend on the input; use :func:`per_sample_grads` then.
    """
    reason = capture_supported(model, names)
    if reason is not None:
        raise UnsupportedModel(reason)
    loss_fn = loss_fn or _sum_loss
    budget = int(memory_budget or 256 * 2**20)
    modules = []
    for mname, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and type(m) is not nn.BatchNorm2d:
            raise UnsupportedModel(f"{type(m).__name__} {mname} (only BatchNorm2d is captured)")
        if type(m) in CAPTURE_TYPES:
            pnames = {pn: (f"{mname}.{pn}" if mname else pn)
                      for pn, p in m.named_parameters(recurse=False) if p.requires_grad}
            if names is not None:
                pnames = {k: v for k, v in pnames.items() if v in names}
            if pnames or isinstance(m, nn.BatchNorm2d):  # every BatchNorm2d is made per-sample
                modules.append((mname, m, pnames))
    calls: dict[int, int] = {}
    problems: list[str] = []

    def on_grad(m: nn.Module, pnames: dict[str, str], inp: torch.Tensor | None,
                gout: torch.Tensor) -> None:
        if not pnames:
            return
        n = gout.shape[0]
        if isinstance(m, nn.BatchNorm2d):
            # recomputed from the input (which the backward pass keeps anyway) rather than
            # kept from the forward pass: one normalisation more, one activation less in memory
            xhat = F.instance_norm(inp, eps=m.eps)
            if "weight" in pnames:
                consume(pnames["weight"], (gout * xhat).sum((2, 3)))
            if "bias" in pnames:
                consume(pnames["bias"], gout.sum((2, 3)))
            return
        if isinstance(m, nn.Linear):
            if "weight" in pnames:
                g = torch.einsum("n...o,n...i->noi", gout, inp)
                consume(pnames["weight"], g.reshape(n, -1))
            if "bias" in pnames:
                gb = gout.reshape(n, -1, gout.shape[-1]).sum(1)
                consume(pnames["bias"], gb)
            return
        # conv: unfolded inputs can be large, so cut the batch into sample chunks
        if "weight" in pnames:
            kk = m.kernel_size[0] * m.kernel_size[1]
            per = inp[0].numel() * kk * inp.element_size()
            step = _sample_chunks(n, per, budget)
            if step >= n:
                consume(pnames["weight"], _conv_weight_grads(m, inp, gout).reshape(n, -1))
            else:
                parts = [_conv_weight_grads(m, inp[i:i + step], gout[i:i + step])
                         .reshape(-1, m.weight.numel()) for i in range(0, n, step)]
                consume(pnames["weight"], torch.cat(parts))
        if "bias" in pnames:
            consume(pnames["bias"], gout.sum((2, 3)))

    def fwd_hook(m: nn.Module, args: tuple, out: torch.Tensor, pnames: dict[str, str]) -> None:
        calls[id(m)] = calls.get(id(m), 0) + 1
        if not pnames:
            return
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            problems.append(f"the output of {type(m).__name__} does not depend on the input")
            return
        inp = args[0].detach()
        out.register_hook(lambda g, m=m, p=pnames, i=inp: on_grad(m, p, i, g))

    handles = []
    saved_flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for _, m, pnames in modules:
            if isinstance(m, nn.BatchNorm2d):
                m.forward = functools.partial(_instance_bn_forward, m)  # type: ignore[method-assign]
            handles.append(m.register_forward_hook(
                functools.partial(_call_hook, fwd_hook, pnames)))
        for p, _ in saved_flags:
            p.requires_grad_(False)
        was_training = model.training
        model.train()
        try:
            with torch.enable_grad():
                xin = x.detach().requires_grad_(True)
                out = model(xin)
                if isinstance(out, (tuple, list)):
                    out = out[-1]
                shared = [i for i, c in calls.items() if c > 1]
                if shared:
                    raise UnsupportedModel("a module is called more than once per forward "
                                           "(shared weights)")
                if problems:
                    raise UnsupportedModel(problems[0])
                loss = loss_fn(out, y)
                torch.autograd.grad(loss, [xin])
        finally:
            model.train(was_training)
    finally:
        for h in handles:
            h.remove()
        for _, m, _ in modules:
            if isinstance(m, nn.BatchNorm2d):
                m.__dict__.pop("forward", None)
        for p, flag in saved_flags:
            p.requires_grad_(flag)


def _call_hook(fn: Callable[..., None], pnames: dict[str, str], m: nn.Module, args: tuple,
               out: Any) -> None:
    fn(m, args, out, pnames)


def _sum_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over the batch of each sample's cross-entropy: its gradient with respect to sample
    ``i``'s activations is exactly sample ``i``'s own loss gradient (the samples are independent
    under per-sample BatchNorm)."""
    return nn.functional.cross_entropy(logits, target, reduction="sum")


# -- route choice ---------------------------------------------------------------------------------
#: per-sample-gradient routes: ``capture`` (one batched pass), ``vmap`` (torch.func), ``auto``
GRAD_METHODS = ("auto", "capture", "vmap")


def default_memory_budget(device: torch.device | str) -> int:
    """Bytes one streaming step may use on ``device``: a share of the free device memory on
    CUDA, a fixed 128 MiB on CPU (larger blocks only add cache misses there)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        return int(min(free // 8, 4 * 2**30))
    return 128 * 2**20


def default_activation_budget(device: torch.device | str) -> int:
    """Bytes of module outputs one per-sample-gradient pass may produce on ``device`` (the
    activations a batched backward keeps): 2 GiB on CPU; on CUDA a sixteenth of the card's total
    memory (so 16 workers fit on one card), at most 8 GiB. It depends on the device's type and
    size only, never on what is free at the moment, so a given card always cuts a batch the same
    way."""
    dev = torch.device(device)
    if dev.type == "cuda":
        total = torch.cuda.get_device_properties(dev).total_memory
        return int(min(total // 16, 8 * 2**30))
    return 2 * 2**30


def activation_bytes(model: nn.Module, x: Any) -> tuple[Any, int]:
    """Forward ``x`` and return the output with the bytes of every module output on the way
    (containers' outputs included: an upper estimate of what a backward keeps)."""
    total = [0]

    def hook(_m: nn.Module, _a: tuple, out: object) -> None:
        if isinstance(out, torch.Tensor):
            total[0] += out.numel() * out.element_size()

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, total[0]


def per_sample_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """:func:`activation_bytes` of one sample (``x[:1]``), forwarded without gradients under
    :func:`per_sample_bn` (no running statistics are touched)."""
    with per_sample_bn(model), torch.no_grad():
        return activation_bytes(model, x[:1])[1]


def stream_per_sample_grads(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    consume: Consumer,
    *,
    method: str = "auto",
    names: set[str] | None = None,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
) -> str:
    """Hand every trainable parameter's per-sample gradients ``(n, numel)`` to ``consume``.

    ``method``: ``capture`` (:func:`capture_per_sample_grads`, one batched pass), ``vmap``
    (:func:`per_sample_grads`) or ``auto`` (capture when the model allows it, else vmap). Both
    give the same gradients up to float rounding (tested). ``names`` restricts the parameters.
    The vmap route differentiates parameter groups whose ``n x numel`` gradients fit in
    ``memory_budget`` bytes, one pass per group, so the full ``n x P`` matrix is never held.
    Returns the method used.
    """
    if method not in GRAD_METHODS:
        raise ConfigError(f"unknown per-sample gradient method {method!r}; use one of "
                          f"{', '.join(GRAD_METHODS)}")
    budget = int(memory_budget or default_memory_budget(x.device))
    if method in ("auto", "capture"):
        try:
            capture_per_sample_grads(model, x, y, consume, names=names, memory_budget=budget)
            return "capture"
        except UnsupportedModel:
            if method == "capture":
                raise
    n = int(x.shape[0])
    named = [(k, v) for k, v in model.named_parameters()
             if v.requires_grad and (names is None or k in names)]
    groups: list[list[tuple[str, torch.Tensor]]] = [[]]
    size = 0
    vmap_budget = 8 * budget
    for k, v in named:
        need = n * v.numel() * v.element_size()
        if groups[-1] and size + need > vmap_budget:
            groups.append([])
            size = 0
        groups[-1].append((k, v))
        size += need
    for group in groups:
        if not group:
            continue
        grads = per_sample_grads(model, x, y, chunk_size=chunk_size,
                                 params={k: v.detach() for k, v in group})
        for k, _ in group:
            consume(k, grads.pop(k).reshape(n, -1))
        del grads
    return "vmap"
