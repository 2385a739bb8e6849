"""The pieces every executor shares: the scoring job, the executor interface, the sequential
executor and the worker side of process and Ray workers.

:class:`ScoringJob` is what a worker needs to score architectures, :func:`job_key` its content key
(workers keep one scorer per key), :class:`Executor` the interface and :class:`SequentialExecutor`
the default. The parallel executors live in :mod:`nasx.executor_process` and
:mod:`nasx.executor_ray`; :mod:`nasx.executors` gathers them all (import from there).
"""

from __future__ import annotations

import abc
import hashlib
import json
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .arch import Arch
from .errors import ConfigError
from .registry import make_space
from .scoring import Scorer, ScoreResult, device_kind

__all__ = [
    "OnResult",
    "ScoringJob",
    "Executor",
    "SequentialExecutor",
    "job_key",
    "default_workers_per_device",
    "max_processes",
    "proxy_modules",
    "check_count",
    "check_processes",
    "import_proxies",
    "results_from_dicts",
    "score_texts",
    "split_tasks",
    "worker_scorer",
]

#: ``on_result(index, results, device_kind)``: the results of ``archs[index]`` (one per proxy of
#: the job, in its order) and the kind of device (``cpu``/``cuda``) they were computed on
OnResult = Callable[[int, list[ScoreResult], str], None]


@dataclass
class ScoringJob:
    """Everything a worker needs to score architectures (picklable)."""

    space_name: str
    space_opts: dict[str, Any]
    proxies: list[str]
    batch: Any  # ProbeBatch on CPU
    device: str
    seed: int
    chunk_size: int | None = None
    space: Any = field(default=None, repr=False)  # the space object (pickled to workers)
    grad_method: str = "auto"

    def scorer(self) -> Scorer:
        space = self.space
        if space is None:
            space = make_space(self.space_name, **self.space_opts)
        return Scorer(space, self.batch, device=self.device, seed=self.seed,
                      chunk_size=self.chunk_size, grad_method=self.grad_method)

    def portable(self) -> ScoringJob:
        """A copy with the batch on the CPU (for other processes; the space is pickled)."""
        return replace(self, batch=self.batch.to("cpu"))


def job_key(job: ScoringJob) -> str:
    """A content key of what a worker's scorer depends on (not of the proxies): the space (its
    class, name and options), the probe batch's fingerprint, the device, the seed and the chunk
    size. Equal keys mean an equal scorer, in any process; unlike ``id(job)`` a key is never
    reused for a different job."""
    space = job.space
    desc = {
        "space": job.space_name,
        "space_opts": job.space_opts,
        "build": None if space is None else [type(space).__module__, type(space).__qualname__,
                                             getattr(space, "name", None),
                                             getattr(space, "opts", None)],
        "batch": job.batch.fingerprint,
        "n": len(job.batch),
        "device": job.device,
        "seed": job.seed,
        "chunk_size": job.chunk_size,
        "grad_method": job.grad_method,
    }
    text = json.dumps(desc, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


#: GPU memory allowed per worker when choosing how many workers share a GPU: a CUDA context
#: (about 0.5 GB) plus the working set of scoring one cell (per-sample gradients of a batch of
#: 128 on a NAS-Bench-201 / DARTS cell are a few GB). A conservative allowance, not a measurement
#: of every space: pass ``workers_per_device`` to override it.
_BYTES_PER_GPU_WORKER = 6 * 2**30
#: at most this many workers share one device by default
_MAX_WORKERS_PER_DEVICE = 8


def default_workers_per_device(device: Any = "cpu") -> int:
    """How many workers share one device by default: 1 on a CPU slot; on a GPU one per
    6 GiB of its free memory, between 1 and 8 (e.g. 8 on an idle 141 GB H200, 3 on a 24 GB card,
    1 on a 12 GB one)."""
    if device_kind(device) != "cuda":
        return 1
    import torch

    if not torch.cuda.is_available():
        return 1
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return max(1, min(_MAX_WORKERS_PER_DEVICE, int(free // _BYTES_PER_GPU_WORKER)))


def max_processes() -> int:
    """The most worker processes (or local Ray CPUs) nasx starts on this machine: 4 per CPU
    core. More only thrash memory and the process table; a larger ``workers`` (or
    ``workers x workers_per_device``) is refused with this limit in the message."""
    return 4 * max(1, os.cpu_count() or 1)


def check_processes(what: str, n: int) -> None:
    """Refuse more than :func:`max_processes` worker processes (a ConfigError)."""
    limit = max_processes()
    if n > limit:
        raise ConfigError(f"{what}: {n} worker processes asked for; at most {limit} on this "
                          f"machine (4 per CPU core); lower --workers / --workers-per-device")


def check_count(name: str, value: Any) -> int | None:
    """``value`` as a whole number >= 1 (None stays None); else a ConfigError naming it."""
    if value is None:
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a whole number; got {value!r}") from None
    if n < 1 or n != float(value):
        raise ConfigError(f"{name} must be a whole number >= 1; got {value!r}")
    return n


def split_tasks(n: int, per_task: int | None, width: int) -> list[list[int]]:
    """Indices 0..n-1 cut into consecutive tasks: ``per_task`` each, or by default about two
    tasks per worker, at most 8 architectures a task (fewer, longer tasks amortise the per-task
    cost; more, shorter ones balance the load and lose less when a worker dies)."""
    if n == 0:
        return []
    size = per_task or max(1, min(8, math.ceil(n / (2 * max(1, width)))))
    return [list(range(i, min(n, i + size))) for i in range(0, n, size)]


class Executor(abc.ABC):
    """Maps a scoring job over architectures."""

    #: how many architectures it scores at once (workers); informative only: strategies ask
    #: in batches fixed by their own settings, never by this
    parallelism: int = 1

    @abc.abstractmethod
    def run(self, job: ScoringJob, archs: Sequence[Arch], on_result: OnResult) -> None:
        """Score every architecture of ``archs`` with every proxy of ``job`` and call
        ``on_result`` once per architecture, as soon as its results are back (in any order)."""

    def map(self, job: ScoringJob, archs: Sequence[Arch]) -> list[list[ScoreResult]]:
        """Per architecture, the results of every proxy of ``job`` (in ``job.proxies`` order)."""
        out: list[list[ScoreResult] | None] = [None] * len(archs)

        def keep(i: int, results: list[ScoreResult], kind: str) -> None:
            out[i] = results

        self.run(job, archs, keep)
        return out  # type: ignore[return-value]

    def device_kind(self, job: ScoringJob) -> str:
        """The kind of device (``cpu``/``cuda``) this executor's workers score ``job`` on."""
        from .scoring import resolve_device

        return device_kind(resolve_device(job.device))

    def close(self) -> None:  # noqa: B027 - a no-op unless the executor holds workers
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SequentialExecutor(Executor):
    """Scores one architecture after another in this process."""

    def __init__(self) -> None:
        self._scorer: Scorer | None = None
        self._key: str | None = None

    def run(self, job: ScoringJob, archs: Sequence[Arch], on_result: OnResult) -> None:
        key = job_key(job)
        if self._key != key or self._scorer is None:
            self._scorer, self._key = job.scorer(), key
        kind = device_kind(self._scorer.device)
        for i, a in enumerate(archs):
            on_result(i, self._scorer.score_many(a, job.proxies), kind)


# -- worker side (process and Ray workers) ------------------------------------------------------
#: scorers of this worker process, by job key (a few, most recent last)
_WORKER_SCORERS: OrderedDict[str, Scorer] = OrderedDict()
_WORKER_CACHE_SIZE = 2


def worker_scorer(key: str, get_job: Callable[[], ScoringJob]) -> Scorer:
    """In a worker: the scorer kept under ``key``, else a new one from ``get_job()``."""
    scorer = _WORKER_SCORERS.get(key)
    if scorer is None:
        scorer = _WORKER_SCORERS[key] = get_job().scorer()
        while len(_WORKER_SCORERS) > _WORKER_CACHE_SIZE:
            _WORKER_SCORERS.popitem(last=False)
    else:
        _WORKER_SCORERS.move_to_end(key)
    return scorer


def proxy_modules(proxies: Sequence[str]) -> list[str]:
    """The modules that registered ``proxies`` (their functions' modules), for workers to
    import before they look the proxies up; nasx's own and ``__main__`` are left out (a worker
    loads nasx's own itself and cannot import the parent's ``__main__``)."""
    from .proxies.base import get_proxy

    out = set()
    for name in proxies:
        fn = get_proxy(name).fn
        module = getattr(fn, "__module__", None) or getattr(type(fn), "__module__", None)
        if module and module.split(".")[0] not in ("nasx", "__main__", "__mp_main__",
                                                    "builtins"):
            out.add(module)
    return sorted(out)


def import_proxies(proxies: Sequence[str], modules: Sequence[str]) -> None:
    """In a worker: import the modules that registered ``proxies``; a proxy still unknown
    (defined in the parent's ``__main__``, a notebook or the prompt) is a ConfigError that
    says so."""
    import importlib

    from .registry import proxies as registry

    for m in modules:
        try:
            importlib.import_module(m)
        except Exception:  # noqa: BLE001 - the check below names the proxy
            pass
    for name in proxies:
        if name not in registry:
            raise ConfigError(
                f"proxy {name!r} is not known in the worker process: a proxy scored by "
                "--executor process or ray must be registered by an importable module (a "
                "plugin, or a module on the workers' import path), not in __main__, a notebook "
                "or the interactive prompt; or use --executor sequential")


def score_texts(scorer: Scorer, proxies: list[str], arch_texts: list[str]
                ) -> tuple[str, list[list[dict]]]:
    """In a worker: the device kind and, per architecture text, its results as dicts."""
    out = []
    for t in arch_texts:
        arch = scorer.space.parse(t)
        out.append([r.to_dict() for r in scorer.score_many(arch, proxies)])
    return device_kind(scorer.device), out


def results_from_dicts(rows: list[dict]) -> list[ScoreResult]:
    """The results a worker sent back as dicts (:func:`score_texts`)."""
    return [ScoreResult(**r) for r in rows]
