"""The training loop: one network, one protocol, checkpointed every epoch, resumable.

Reproducibility: ``random``, ``numpy`` and ``torch`` are seeded with ``seed`` before the network
is built (its initialisation is the space's, for that torch seed); shuffling and augmentation draw
from a separate CPU ``torch.Generator`` seeded with ``seed``; drop-path masks come from torch's
default generator. All of these states are in every checkpoint, so a run killed at any point and
started again with the same arguments resumes from the last finished epoch and ends with the same
weights and figures as an uninterrupted run (bit for bit on CPU with the same number of threads;
the resume test checks it). On CPU the number of threads is set (``threads``) for the run and
restored afterwards, as is every torch flag the loop sets.

On CUDA (code path present, not tested on a GPU here): mixed precision (``torch.autocast`` with
float16 and a ``GradScaler``, protocol field ``amp``) and channels-last tensors (field
``channels_last``); ``cudnn.benchmark`` off, ``cudnn.deterministic`` on and
``torch.use_deterministic_algorithms(True, warn_only=True)`` for the run: torch then warns where an
op has no deterministic CUDA kernel (and deterministic cuBLAS needs ``CUBLAS_WORKSPACE_CONFIG``
set before CUDA starts), so bitwise equality across runs is only promised on CPU.

Batches: each epoch is a fresh permutation of the training images in batches of ``batch_size``;
the last, smaller batch is kept, unless it would hold a single image (BatchNorm cannot train on
one), which is then left out of that epoch.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, DataError
from ..events import Event, TrainProgress
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .data import TrainData, augment, normalise
from .protocol import Protocol

__all__ = ["CosineFactor", "fit", "check_fit", "evaluate_model"]


class CosineFactor:
    """The learning-rate factor of a cosine schedule from ``lr`` to ``lr_min`` over ``total``
    updates (a plain object, so the scheduler's state saves)."""

    def __init__(self, total: int, lr: float, lr_min: float, cosine: bool = True) -> None:
        self.total = total
        self.lr = lr
        self.lr_min = lr_min
        self.cosine = cosine

    def __call__(self, i: int) -> float:
        if not self.cosine:
            return 1.0
        t = min(i, self.total) / max(self.total, 1)
        return (self.lr_min + 0.5 * (self.lr - self.lr_min) * (1 + math.cos(math.pi * t))) / self.lr


def _forward(model: nn.Module, x: torch.Tensor, aux: bool) -> tuple[torch.Tensor, Any]:
    if aux:
        return model.nasx_forward_train(x)  # type: ignore[operator]
    return model(x), None


def check_fit(model: nn.Module, data: TrainData, protocol: Protocol, input_shape: Any,
              space: str) -> bool:
    """Raise a clear error where the protocol or the data do not fit the network; return
    whether the auxiliary head is used.

    Raises:
        ConfigError: drop-path or an auxiliary head asked for on a network without them.
        DataError: images whose channels or size the network cannot take.
    """
    aux = protocol.auxiliary_weight > 0
    if aux and not (callable(getattr(model, "nasx_forward_train", None))
                    and hasattr(model, "auxiliary_head")):
        fix = ("pass --space-opt auxiliary=true" if callable(getattr(model, "nasx_forward_train",
                                                                     None))
               else "use --set auxiliary_weight=0")
        raise ConfigError(f"protocol {protocol.name!r} trains an auxiliary head "
                          f"(auxiliary_weight={protocol.auxiliary_weight:g}), but the {space} "
                          f"network has none; {fix}")
    if protocol.drop_path > 0 and not hasattr(model, "drop_path_prob"):
        raise ConfigError(f"protocol {protocol.name!r} uses drop-path (drop_path="
                          f"{protocol.drop_path:g}), which the {space} network does not "
                          "support; use --set drop_path=0")
    h, w = data.image_size
    shape = tuple(int(v) for v in input_shape or ())
    if len(shape) == 3 and shape[0] != 3:
        raise DataError(f"the {space} network takes {shape[0]}-channel images; the data has "
                        "3 channels (RGB)")
    if len(shape) == 3 and (shape[1], shape[2]) != (h, w):
        raise DataError(f"the data's images are {h}x{w} but the {space} space is set for "
                        f"{shape[1]}x{shape[2]}; pass --space-opt input_size={h} (or resize "
                        "the images)")
    probe = copy.deepcopy(model).train()
    x = torch.zeros(2, 3, h, w)
    try:
        with torch.no_grad():
            logits, logits_aux = _forward(probe, x, aux)
    except RuntimeError as exc:
        raise DataError(f"images of {h}x{w} do not fit the {space} network"
                        f"{' with its auxiliary head' if aux else ''} (too small?): "
                        f"{str(exc).splitlines()[0]}") from None
    if logits.shape != (2, data.num_classes) or (aux and logits_aux is None):
        raise ConfigError(f"the {space} network returned logits of shape "
                          f"{tuple(logits.shape)}, expected (N, {data.num_classes})")
    return aux


def evaluate_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor,
                   std: torch.Tensor, batch: int, amp: bool, channels_last: bool
                   ) -> tuple[float, float]:
    """(mean cross-entropy, accuracy in percent) of ``model`` in eval mode."""
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            xb = normalise(x[i:i + batch], mean, std)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with _autocast(x.device, amp):
                logits = model(xb)
            yb = y[i:i + batch]
            total_loss += float(nn.functional.cross_entropy(logits.float(), yb,
                                                            reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
    n = max(len(y), 1)
    return total_loss / n, 100.0 * correct / n


def _autocast(device: torch.device, amp: bool) -> Any:
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _torch_settings(device: torch.device, threads: int | None) -> Iterator[None]:
    """Threads on CPU, determinism flags on CUDA, for the run; restored afterwards."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    old_bench = torch.backends.cudnn.benchmark
    old_cudnn_det = torch.backends.cudnn.deterministic
    try:
        if threads:
            torch.set_num_threads(int(threads))
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
            torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
        torch.backends.cudnn.benchmark = old_bench
        torch.backends.cudnn.deterministic = old_cudnn_det


def _batches(n: int, batch: int, gen: torch.Generator) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=gen)
    out = [perm[i:i + batch] for i in range(0, n, batch)]
    if len(out) > 1 and len(out[-1]) == 1:
        out.pop()
    return out


def fit(
    build: Callable[[], nn.Module],
    data: TrainData,
    protocol: Protocol,
    *,
    identity: dict[str, Any],
    seed: int,
    device: torch.device,
    checkpoint: Path | None,
    input_shape: Any,
    space: str,
    arch: str,
    threads: int | None = None,
    emit: Callable[[Event], None] | None = None,
) -> dict[str, Any]:
    """Train the network ``build()`` makes; return ``{"history", "params", "resumed_from",
    "model"}`` (``model``: the trained network, on ``device``).

    ``build`` is called after seeding. ``checkpoint`` (a file path, or None for no checkpoint)
    is loaded first when it exists and belongs to this run (``identity``), then rewritten after
    every epoch.
    """
    emit = emit or (lambda ev: None)
    p = protocol
    with _torch_settings(device, threads):
        random.seed(seed)
        np.random.seed(seed % (2**32))
        torch.manual_seed(seed)
        gen = torch.Generator(device="cpu")
        gen.manual_seed(seed)
        model = build()
        aux = check_fit(model, data, p, input_shape, space)
        cuda = device.type == "cuda"
        amp = bool(p.amp) and cuda
        channels_last = bool(p.channels_last) and cuda
        model = model.to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        params = sum(int(t.numel()) for t in model.parameters())
        opt = torch.optim.SGD(model.parameters(), lr=p.lr, momentum=p.momentum,
                              nesterov=p.nesterov, weight_decay=p.weight_decay)
        n_train = len(data.train_y)
        steps = len(_batches(n_train, p.batch_size, torch.Generator().manual_seed(0)))
        total = p.epochs * steps if p.schedule_unit == "step" else p.epochs
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, CosineFactor(total, p.lr, p.lr_min, p.schedule == "cosine"))
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
        history: list[dict[str, Any]] = []
        start = 0
        ckpt = load_checkpoint(checkpoint, identity, device) if checkpoint else None
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
            scaler.load_state_dict(ckpt["scaler"])
            set_rng_state(ckpt["rng"], gen)
            history = list(ckpt["history"])
            start = int(ckpt["epoch"])
        tx = torch.from_numpy(data.train_x).to(device)
        ty = torch.from_numpy(data.train_y).to(device)
        ex = torch.from_numpy(data.eval_x).to(device)
        ey = torch.from_numpy(data.eval_y).to(device)
        mean = torch.tensor(data.mean, dtype=torch.float32, device=device)
        std = torch.tensor(data.std, dtype=torch.float32, device=device)
        crit = nn.CrossEntropyLoss(label_smoothing=p.label_smoothing)
        t0 = time.perf_counter()
        done_steps = 0
        every = max(1, steps // 20)
        for epoch in range(start, p.epochs):
            t_epoch = time.perf_counter()
            if hasattr(model, "drop_path_prob"):
                model.drop_path_prob = p.drop_path * epoch / p.epochs
            model.train()
            lr_epoch = float(opt.param_groups[0]["lr"])
            loss_sum, correct, seen = 0.0, 0, 0
            batches = _batches(n_train, p.batch_size, gen)
            for step, idx in enumerate(batches, 1):
                idx = idx.to(device)
                xb = augment(tx[idx], mean, std, gen, padding=p.crop_padding, flip=p.flip,
                             cutout=p.cutout)
                yb = ty[idx]
                if channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with _autocast(device, amp):
                    logits, logits_aux = _forward(model, xb, aux)
                    loss = crit(logits, yb)
                    if logits_aux is not None:
                        loss = loss + p.auxiliary_weight * crit(logits_aux, yb)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if p.grad_clip > 0:
                    scaler.unscale_(opt)
                    nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
                scaler.step(opt)
                scaler.update()
                if p.schedule_unit == "step":
                    sched.step()
                loss_sum += float(loss.detach()) * len(yb)
                correct += int((logits.detach().argmax(1) == yb).sum())
                seen += len(yb)
                done_steps += 1
                if step % every == 0 or step == len(batches):
                    elapsed = time.perf_counter() - t0
                    left = (p.epochs - epoch) * steps - step
                    emit(TrainProgress(arch, epoch + 1, p.epochs, step, len(batches),
                                       loss_sum / seen, 100.0 * correct / seen,
                                       float(opt.param_groups[0]["lr"]), elapsed,
                                       elapsed / done_steps * left, resumed_from=start))
            if p.schedule_unit == "epoch":
                sched.step()
            eval_loss, eval_acc = evaluate_model(model, ex, ey, mean, std, p.eval_batch_size,
                                                 amp, channels_last)
            history.append({"epoch": epoch + 1, "train_loss": loss_sum / seen,
                            "train_acc": 100.0 * correct / seen, "eval_loss": eval_loss,
                            "eval_acc": eval_acc, "lr": lr_epoch,
                            "seconds": time.perf_counter() - t_epoch})
            if checkpoint is not None:
                save_checkpoint(checkpoint, {
                    "identity": identity, "epoch": epoch + 1, "model": model.state_dict(),
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "scaler": scaler.state_dict(), "rng": rng_state(gen), "history": history,
                    "threads": torch.get_num_threads(),
                })
            elapsed = time.perf_counter() - t0
            emit(TrainProgress(arch, epoch + 1, p.epochs, len(batches), len(batches),
                               loss_sum / seen, 100.0 * correct / seen, lr_epoch, elapsed,
                               elapsed / max(done_steps, 1) * (p.epochs - epoch - 1) * steps,
                               epoch_done=True, eval_loss=eval_loss, eval_acc=eval_acc,
                               resumed_from=start))
        model.eval()
    return {"history": history, "params": params, "resumed_from": start, "model": model}
