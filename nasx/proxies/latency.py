"""latency: the measured inference time of a network on the scoring device (lower is better).

Not a zero-cost proxy of accuracy but a cost, like ``params`` and ``flops``: the hardware-aware
NAS works (e.g. Cai et al., "ProxylessNAS: Direct Neural Architecture Search on Target Task and
Hardware", ICLR 2019; Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for
Mobile", CVPR 2019) put the measured latency of the target device into the search, as an
objective or a bound. nasx measures it directly (no latency model or lookup table).

Definition: the **median wall-clock time, in milliseconds, of one forward pass** of the network
in eval mode under ``torch.no_grad``, on the scoring device, on a batch of ``batch_size``
(default 1) random inputs of the space's input shape, after ``warmup`` untimed passes (default
5), over ``repeats`` timed passes (default 20). Each timed pass is bracketed by
``torch.cuda.synchronize`` on a GPU. On the CPU, torch's intra-op thread count is set to
``threads`` for the measurement (default None: the process's current setting) and restored
afterwards; the count used is reported in ``ctx.notes["latency.threads"]``.

Orientation: lower is better (``higher_is_better=False``). The value is a measurement: it is
not deterministic, it depends on the device model, the thread count and the machine's load.
The proxy is registered ``device_specific=True``, so its store key names the device model
(:func:`nasx.scoring.device_model`: the GPU's name, or the CPU's model and thread count). It
needs no images (``needs=("none",)``: no probe data is loaded when it is the only proxy).

The same function measures the ``max_latency_ms`` search constraint
(:mod:`nasx.constraints`), so a bound read off ``nasx score --proxy latency`` applies as is.
Stability on one CPU, and the rank agreement of latency with FLOPs:
``benchmarks/latency.py`` (``benchmarks/results/latency_cpu.json``).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ProxyError
from .base import ScoreContext, register_proxy

__all__ = ["latency", "measure_latency", "latency_samples"]

PAPER_LATENCY = ("cost; measured latency as in hardware-aware NAS (Cai et al., ProxylessNAS, "
                 "ICLR 2019; Tan et al., MnasNet, CVPR 2019)")


@contextlib.contextmanager
def _inference(model: nn.Module, threads: int | None, on_cpu: bool) -> Iterator[None]:
    """Eval mode, no gradients and (on the CPU) ``threads`` intra-op threads; all restored."""
    flags = [(m, m.training) for m in model.modules()]
    old_threads = torch.get_num_threads()
    if threads is not None and on_cpu:
        torch.set_num_threads(int(threads))
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, flag in flags:
            m.train(flag)
        if torch.get_num_threads() != old_threads:
            torch.set_num_threads(old_threads)


def latency_samples(model: nn.Module, input_shape: Sequence[int], *, batch_size: int = 1,
                    device: Any = None, warmup: int = 5, repeats: int = 20,
                    threads: int | None = None) -> list[float]:
    """The ``repeats`` timed forward passes of :func:`measure_latency`, in milliseconds."""
    for what, v, low in (("batch_size", batch_size, 1), ("warmup", warmup, 0),
                         ("repeats", repeats, 1)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ProxyError(f"latency: {what} must be an integer >= {low}; got {v!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ProxyError(f"latency: threads must be a positive integer or None; got {threads!r}")
    if device is None:
        param = next(iter(model.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((batch_size, *(int(v) for v in input_shape)), generator=gen).to(device)
    on_gpu = device.type == "cuda"

    def sync() -> None:
        if on_gpu:
            torch.cuda.synchronize(device)

    times = []
    with _inference(model, threads, device.type == "cpu"):
        for _ in range(warmup):
            model(x)
        sync()
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            sync()
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def measure_latency(model: nn.Module, input_shape: Sequence[int], *, batch_size: int = 1,
                    device: Any = None, warmup: int = 5, repeats: int = 20,
                    threads: int | None = None) -> float:
    """Median milliseconds of one forward pass (eval mode, no grad) of ``model`` on a batch of
    ``batch_size`` inputs of ``input_shape`` (``(C, H, W)``), on ``device`` (default: where the
    model's parameters are), after ``warmup`` passes, over ``repeats`` passes; on the CPU with
    ``threads`` torch threads (None: the current setting). Used by the ``latency`` proxy and
    by the ``max_latency_ms`` constraint.

    Example:
        >>> net = torch.nn.Conv2d(3, 8, 3)
        >>> measure_latency(net, (3, 8, 8), repeats=3) > 0
        True
    """
    return float(statistics.median(latency_samples(
        model, input_shape, batch_size=batch_size, device=device, warmup=warmup,
        repeats=repeats, threads=threads)))


def latency(model: nn.Module, batch, ctx: ScoreContext, batch_size: int = 1, warmup: int = 5,
            repeats: int = 20, threads: int | None = None) -> float:
    """Median milliseconds of one forward pass at ``batch_size`` on the scoring device."""
    space = getattr(ctx, "space", None)
    shape = tuple(space.input_shape) if space is not None else tuple(batch.x.shape[1:])
    device = torch.device(ctx.device) if ctx.device is not None else None
    if isinstance(getattr(ctx, "notes", None), dict) and (device is None
                                                          or device.type == "cpu"):
        ctx.notes["latency.threads"] = threads if threads is not None else \
            torch.get_num_threads()
    return measure_latency(model, shape, batch_size=batch_size, device=device, warmup=warmup,
                           repeats=repeats, threads=threads)


register_proxy(
    "latency",
    higher_is_better=False,
    needs=("none",),
    paper=PAPER_LATENCY,
    description="Median milliseconds of one forward pass (eval, no grad, batch 1) on the "
    "scoring device; keyed by the device model.",
    batch_split="invariant",
    device_specific=True,
    batch_size=1,
    warmup=5,
    repeats=20,
    threads=None,
)(latency)
