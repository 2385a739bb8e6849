"""The Scorer: the one place that turns (architecture, proxy) into a recorded score.

It builds the model, seeds its initialisation (without touching the caller's global RNG state),
places model and probe batch on the device, calls the proxy, times it, and turns every failure
(an exception, a NaN/inf score, CUDA out-of-memory) into a :class:`ScoreResult` with a status.
Out-of-memory on per-sample gradients is retried with smaller chunks before it is recorded.
Several proxies scored on one architecture share the model's initial weights and a cache (so
GradAlign-I and -II compute per-sample gradients once).
"""

from __future__ import annotations

import copy
import math
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .arch import Arch
from .data import ProbeBatch
from .errors import ConfigError, NasxError
from .proxies.base import ProxySpec, ScoreContext, get_proxy

__all__ = ["ScoreResult", "Scorer", "resolve_device", "OK", "FAILED", "NONFINITE", "OOM"]

OK = "ok"
FAILED = "failed"  # the proxy raised
NONFINITE = "nonfinite"  # the proxy returned NaN or inf
OOM = "oom"  # out of memory even at the smallest chunk


@dataclass(frozen=True)
class ScoreResult:
    """The recorded outcome of scoring one architecture with one proxy.

    ``value`` is the raw score (None on failure); :meth:`oriented` gives the score with higher
    always better, and failures rank last.
    """

    arch: str
    proxy: str
    value: float | None
    status: str = OK
    error: str | None = None
    seconds: float = 0.0
    cached: bool = False
    higher_is_better: bool = True

    @property
    def ok(self) -> bool:
        return self.status == OK and self.value is not None

    def oriented(self) -> float:
        """Score with higher better; ``-inf`` for failures (ranked last)."""
        if not self.ok:
            return -math.inf
        assert self.value is not None
        return self.value if self.higher_is_better else -self.value

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["value"] is not None and not math.isfinite(d["value"]):
            d["value"] = None
        return d


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
        return torch.device("mps")
    raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")


def device_kind(device: Any) -> str:
    """The device part of a cache key: ``cpu`` or ``cuda`` (scores on different kinds may
    differ in the last bits)."""
    return str(getattr(device, "type", device))


class Scorer:
    """Scores architectures of one space with proxies on one probe batch.

    Args:
        space: the search space (builds networks).
        batch: the probe batch (CPU or device tensors).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or a torch.device.
        seed: initialisation seed; the same (arch, seed) always gets the same weights.
        chunk_size: samples per per-sample-gradient call (None = a class at a time).
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
    ) -> None:
        self.space = space
        self.device = resolve_device(device)
        self.batch = batch.to(self.device)
        self.seed = int(seed)
        self.chunk_size = chunk_size
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
        initial = copy.deepcopy(model.state_dict()) if len(specs) > 1 else None
        ctx = ScoreContext(
            device=self.device,
            seed=self.seed,
            num_classes=self.batch.num_classes,
            chunk_size=self.chunk_size,
            space=self.space,
        )
        results = []
        for k, spec in enumerate(specs):
            if k and initial is not None:
                model.load_state_dict(initial)
                model.zero_grad(set_to_none=True)
                for p in model.parameters():
                    p.requires_grad_(True)
            model.train()
            results.append(self._run_one(arch, spec, model, ctx, build_s if k == 0 else 0.0))
        del model
        return results

    def _generator(self) -> Any:
        import torch

        g = torch.Generator(device=self.device)
        g.manual_seed(self.seed)
        return g

    def _run_one(
        self, arch: Arch, spec: ProxySpec, model: Any, ctx: ScoreContext, extra_s: float
    ) -> ScoreResult:
        import torch

        chunk = self.chunk_size
        while True:
            ctx.generator = self._generator()
            ctx.chunk_size = chunk
            t0 = time.perf_counter()
            try:
                with _full_precision(self.device):
                    value = spec(model, self.batch, ctx)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
            except torch.cuda.OutOfMemoryError as exc:
                ctx.cache.clear()
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                smaller = _smaller_chunk(chunk, len(self.batch))
                if smaller is None:
                    return ScoreResult(str(arch), spec.name, None, OOM, self._error(exc),
                                       time.perf_counter() - t0 + extra_s,
                                       higher_is_better=spec.higher_is_better)
                chunk = smaller
                continue
            except Exception as exc:
                return ScoreResult(str(arch), spec.name, None, FAILED, self._error(exc),
                                   time.perf_counter() - t0 + extra_s,
                                   higher_is_better=spec.higher_is_better)
            seconds = time.perf_counter() - t0 + extra_s
            try:
                value = float(value)
            except (TypeError, ValueError):
                return ScoreResult(str(arch), spec.name, None, FAILED,
                                   f"proxy returned {type(value).__name__}, not a number",
                                   seconds, higher_is_better=spec.higher_is_better)
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
