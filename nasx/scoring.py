"""The Scorer: the one place that turns (architecture, proxy) into a recorded score.

It builds the model, seeds its initialisation (without touching the caller's global RNG state),
places model and probe batch on the device, calls the proxy, times it, and turns every failure
(an exception, a NaN/inf score, a non-number, CUDA out-of-memory) into a :class:`ScoreResult`
with a status. Several proxies scored on one architecture share the model's initial weights and a
cache (so GradAlign-I and -II compute per-sample gradients once). Each proxy call gets its own
copy of the probe batch, so a proxy that modifies ``batch.x`` / ``batch.y`` in place changes no
other proxy's input.

Out-of-memory: a proxy whose value does not depend on how the batch is split
(``batch_split="invariant"``, e.g. the per-sample-gradient proxies) is retried with halved chunks,
each retry starting again from the model's initial weights and a fresh cache, so the retried
value equals the unchunked one. A split-sensitive proxy (grad-norm, snip, fisher, grasp,
jacob-cov) is never re-split: its OOM is recorded (with the advice to set ``--chunk-size``, which
then goes into the store key) so that no network is silently scored on another scale.

:func:`key_options` is the one place that lists the scorer options that can change a value; the
store key records them (an option added to the scorer that changes values goes there).
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Sequence
from typing import Any

from .arch import Arch
from .data import ProbeBatch
from .errors import ConfigError, NasxError
from .proxies.base import ProxySpec, ScoreContext, get_proxy
from .records import FAILED, NONFINITE, OK, OOM, ScoreResult

__all__ = ["ScoreResult", "Scorer", "resolve_device", "device_identity", "device_kind",
           "device_model", "cpu_model", "key_options", "check_chunk_size", "check_grad_method",
           "OK", "FAILED", "NONFINITE", "OOM", "SCORER_VERSION"]

#: version of the scorer's own behaviour (initialisation, precision, placement); part of every
#: store key through :func:`key_options`; bump it when a change alters scores of every proxy
SCORER_VERSION = "2"

def resolve_device(device: str | Any = "auto") -> Any:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cpu``, ``cuda`` or ``cuda:N``."""
    import torch

    if isinstance(device, torch.device):
        return device
    text = str(device or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} asked for, but CUDA is not available")
        dev = torch.device(text)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) present"
            )
        return dev
    if text == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"device {device!r} asked for, but MPS (Apple GPU) is not "
                              "available here; use auto, cpu or cuda")
        return torch.device("mps")
    raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")


def device_identity(device: Any) -> str:
    """The physical device a result was computed on (``cpu``, or the CUDA device's name and
    memory): an out-of-memory failure is only meaningful on the device that ran out."""
    kind = str(getattr(device, "type", device))
    if kind != "cuda":
        return kind
    import torch

    try:
        props = torch.cuda.get_device_properties(device)
        return f"cuda:{props.name}:{props.total_memory // 2**20}MiB"
    except Exception:  # noqa: BLE001 - an identity is informative only
        return "cuda"


def cpu_model() -> str:
    """The CPU's model name (``model name`` of ``/proc/cpuinfo`` on Linux, else
    ``platform.processor()`` or the machine type)."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    name = line.split(":", 1)[1].strip()
                    if name:
                        return " ".join(name.split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def device_model(device: Any) -> str:
    """The device model a measurement depends on: ``cuda:<GPU name>`` (from
    ``torch.cuda.get_device_name``), or ``cpu:<CPU model>:threads=<torch threads>`` (the
    intra-op threads of this process now). Part of the store key of device-specific proxies."""
    import torch

    kind = str(getattr(device, "type", device))
    if kind == "cuda":
        try:
            return f"cuda:{torch.cuda.get_device_name(device)}"
        except Exception:  # noqa: BLE001 - no name: the kind still separates the keys
            return "cuda"
    if kind == "cpu":
        return f"cpu:{cpu_model()}:threads={torch.get_num_threads()}"
    return kind


def check_chunk_size(chunk_size: Any) -> int | None:
    """``None`` or a positive int; anything else is a :class:`ConfigError`."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk size must be a positive integer (or unset); got {chunk_size!r}")
    return chunk_size


def check_grad_method(method: Any) -> str:
    """One of :data:`nasx.grads.GRAD_METHODS`; anything else is a :class:`ConfigError`."""
    from .grads import GRAD_METHODS

    text = str(method or "auto").strip().lower()
    if text not in GRAD_METHODS:
        raise ConfigError(f"unknown per-sample gradient method {method!r}; use one of "
                          f"{', '.join(GRAD_METHODS)}")
    return text


def key_options(spec: ProxySpec, *, chunk_size: int | None = None, device: Any = None,
                **extra: Any) -> dict[str, Any]:
    """The scorer options that can change ``spec``'s value, as they go into the store key.

    Always the scorer version; the chunk size only for split-sensitive proxies (for the others
    any chunk gives the same value, so scores are shared across chunk sizes). ``extra`` holds
    further options of the scoring route (e.g. a per-sample-gradient method); a value of None
    means "the default" and is left out, so adding an option keeps existing keys valid.
    A device-specific proxy (``spec.device_specific``) also gets ``device_model``, the
    :func:`device_model` of ``device`` (default: the CPU); the keys of the others do not
    depend on ``device`` beyond its kind (a separate part of the key).
    """
    opts: dict[str, Any] = {"scorer": SCORER_VERSION}
    if spec.split_sensitive:
        opts["split"] = chunk_size if chunk_size is not None else "full"
    if spec.device_specific:
        opts["device_model"] = device_model(device if device is not None else "cpu")
    for k in sorted(extra):
        if extra[k] is not None:
            opts[k] = extra[k]
    return opts


def device_kind(device: Any) -> str:
    """The device part of a store key: the type of a device or device string, without its index
    (``cpu``, ``cuda`` or ``mps``; ``cuda:1`` -> ``cuda``). Scores on different kinds may differ
    in the last bits; GPUs of one kind share their scores. The executors report every result's
    kind with it, and the score service keys the store with it."""
    kind = getattr(device, "type", None)
    return str(kind) if kind is not None else str(device).split(":", 1)[0]


class Scorer:
    """Scores architectures of one space with proxies on one probe batch.

    Args:
        space: the search space (builds networks).
        batch: the probe batch (CPU or device tensors).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or a torch.device.
        seed: initialisation seed; the same (arch, seed) always gets the same weights.
        chunk_size: samples per per-sample-gradient pass (None = the whole batch).
        grad_method: per-sample-gradient route of the per-sample-gradient proxies: ``auto``
            (the batched capture where the network allows it, else ``torch.func``), ``capture``
            or ``vmap``; all give the same values up to float rounding.
        keep_traceback: store full tracebacks in failed results (default: last line only).

    Example:
        >>> # scorer = Scorer(space, batch, device="cpu", seed=0)
        >>> # result = scorer.score(arch, "gradalign-i")
    """

    def __init__(
        self,
        space: Any,
        batch: ProbeBatch,
        *,
        device: Any = "auto",
        seed: int = 0,
        chunk_size: int | None = None,
        keep_traceback: bool = False,
        grad_method: str = "auto",
    ) -> None:
        self.space = space
        self.device = resolve_device(device)
        self.batch = batch.to(self.device)
        self.seed = int(seed)
        self.chunk_size = check_chunk_size(chunk_size)
        self.grad_method = check_grad_method(grad_method)
        self.keep_traceback = keep_traceback

    @property
    def data_fingerprint(self) -> str:
        return self.batch.fingerprint

    def build(self, arch: Arch) -> Any:
        """The network of ``arch``, initialised deterministically from ``seed``."""
        import torch

        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            model = self.space.build(arch, self.batch.num_classes)
        return model.to(self.device)

    def score(self, arch: Arch, proxy: str | ProxySpec) -> ScoreResult:
        return self.score_many(arch, [proxy])[0]

    def score_many(self, arch: Arch, proxies: Sequence[str | ProxySpec]) -> list[ScoreResult]:
        """Score one architecture with several proxies from the same initial weights."""

        specs = [get_proxy(p) for p in proxies]
        for s in specs:
            if s.population:
                raise NasxError(
                    f"proxy {s.name!r} ranks a population: score its components "
                    f"{list(s.components)} and combine them (nasx.evaluate / nasx.search do)"
                )
        t0 = time.perf_counter()
        try:
            model = self.build(arch)
        except Exception as exc:  # a space that cannot build this arch: every proxy fails
            err = self._error(exc)
            return [
                ScoreResult(str(arch), s.name, None, FAILED, f"build: {err}",
                            time.perf_counter() - t0, higher_is_better=s.higher_is_better)
                for s in specs
            ]
        build_s = time.perf_counter() - t0
        # kept on the CPU: every proxy, and every out-of-memory retry, starts from these weights
        initial = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        ctx = ScoreContext(
            device=self.device,
            seed=self.seed,
            num_classes=self.batch.num_classes,
            chunk_size=self.chunk_size,
            grad_method=self.grad_method,
            space=self.space,
        )
        results = []
        for k, spec in enumerate(specs):
            if k:
                _restore(model, initial)
            model.train()
            results.append(self._run_one(arch, spec, model, ctx, build_s if k == 0 else 0.0,
                                         initial))
        del model
        return results

    def _generator(self) -> Any:
        import torch

        g = torch.Generator(device=self.device)
        g.manual_seed(self.seed)
        return g

    def _run_one(
        self, arch: Arch, spec: ProxySpec, model: Any, ctx: ScoreContext, extra_s: float,
        initial: dict[str, Any] | None = None,
    ) -> ScoreResult:
        import torch

        chunk = self.chunk_size
        first = True
        while True:
            if not first:  # a retry: the failed attempt may have changed weights, modes, grads
                if initial is not None:
                    _restore(model, initial)
                model.train()
            first = False
            ctx.generator = self._generator()
            ctx.chunk_size = chunk
            t0 = time.perf_counter()
            try:
                with _full_precision(self.device):
                    # each call gets its own copy of the batch: a proxy that writes into its
                    # inputs cannot change what the next proxy (or a retry) is given
                    value = spec(model, self.batch.clone(), ctx)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
            except torch.cuda.OutOfMemoryError as exc:
                ctx.cache.clear()
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                smaller = None if spec.split_sensitive else _smaller_chunk(chunk, len(self.batch))
                if smaller is None:
                    why = self._error(exc)
                    if spec.split_sensitive:
                        why = (f"out of memory at chunk size {chunk or 'full batch'} on "
                               f"{device_identity(self.device)}; {spec.name}'s value depends on "
                               "how the batch is split, so it is not retried with smaller chunks "
                               "(set --chunk-size, which is recorded with the score, or lower "
                               f"--batch-size): {why}")
                    else:
                        why = f"out of memory on {device_identity(self.device)}: {why}"
                    return ScoreResult(str(arch), spec.name, None, OOM, why,
                                       time.perf_counter() - t0 + extra_s,
                                       higher_is_better=spec.higher_is_better)
                chunk = smaller
                continue
            except (Exception, SystemExit) as exc:  # a plugin's sys.exit() is its failure
                return ScoreResult(str(arch), spec.name, None, FAILED, self._error(exc),
                                   time.perf_counter() - t0 + extra_s,
                                   higher_is_better=spec.higher_is_better)
            seconds = time.perf_counter() - t0 + extra_s
            if isinstance(value, bool) or isinstance(value, (str, bytes)):
                return ScoreResult(str(arch), spec.name, None, FAILED,
                                   f"proxy returned {type(value).__name__}, not a number",
                                   seconds, higher_is_better=spec.higher_is_better)
            try:
                value = float(value)
            except (Exception, SystemExit) as exc:  # __float__ is the plugin's code too
                why = f"proxy returned {type(value).__name__}, not a number"
                if not isinstance(exc, (TypeError, ValueError)):
                    why += f" ({type(exc).__name__}: {exc})"
                return ScoreResult(str(arch), spec.name, None, FAILED, why, seconds,
                                   higher_is_better=spec.higher_is_better)
            if not math.isfinite(value):
                return ScoreResult(str(arch), spec.name, None, NONFINITE,
                                   f"proxy returned {value}", seconds,
                                   higher_is_better=spec.higher_is_better)
            return ScoreResult(str(arch), spec.name, value, OK, None, seconds,
                               higher_is_better=spec.higher_is_better)

    def _error(self, exc: BaseException) -> str:
        if self.keep_traceback:
            return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return f"{type(exc).__name__}: {exc}"


def _restore(model: Any, initial: dict[str, Any] | None) -> None:
    """Back to the initial weights and buffers, no gradients, every parameter trainable."""
    if initial is not None:
        model.load_state_dict(initial)
    model.zero_grad(set_to_none=True)
    for p in model.parameters():
        p.requires_grad_(True)


def _full_precision(device: Any) -> Any:
    """Scoped fp32 convolutions on CUDA: cuDNN's TF32 default would round gradients enough to
    flip the signs of small components (GradAlign, GradSign) between devices. Restored on exit;
    no global flag is left changed."""
    import contextlib

    import torch

    if getattr(device, "type", "cpu") != "cuda":
        return contextlib.nullcontext()
    return torch.backends.cudnn.flags(
        enabled=torch.backends.cudnn.enabled,
        benchmark=torch.backends.cudnn.benchmark,
        deterministic=torch.backends.cudnn.deterministic,
        allow_tf32=False,
    )


def _smaller_chunk(chunk: int | None, n: int) -> int | None:
    current = chunk if chunk is not None else n
    if current <= 1:
        return None
    return max(1, current // 2)
