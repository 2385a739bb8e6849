"""Executors own concurrency: they decide where the architectures of one ask are scored.

* :class:`SequentialExecutor` (default): scores in this process.
* :class:`ProcessExecutor`: K worker processes per device (per GPU, or per CPU slot).
* :class:`RayExecutor`: Ray tasks on a cluster (``pip install nasx[ray]``), K tasks per GPU
  through fractional GPUs.

An executor only maps a :class:`ScoringJob` over architectures; the cache lookup and the store
writes live in the score service (:mod:`nasx.service`), the strategy calls and the events in the
search loop (:mod:`nasx.engine.loop`), so a strategy behaves the same on one CPU or a cluster. How
many architectures are asked for at once is the strategy's own setting (``Strategy.ask_width``),
never the executor's width, so a search gives the same result whatever executor runs it. Executors
hand back each architecture's results as soon as its task returns (:meth:`Executor.run`), with the
kind of device the worker scored it on, so the score service stores every score once, the moment it
exists, under the worker's device.

A process worker that dies (killed by the system, most often for memory) does not stop or hang
the call: the architectures of its lost tasks are scored again one at a time, each alone in a
fresh worker, so the scores of the others are kept and an architecture that kills its worker on
its own is recorded with status ``oom`` (stored like any failure, never reused unless failures
are kept, and then only on the same device).

Workers rebuild the scorer from the job description and keep it (with the probe batch on their
device) under a content key of the job (:func:`job_key`): space, space options, probe-batch
fingerprint, device, seed and chunk size; the proxies are not part of it, so jobs that differ only
in their proxies share one scorer. Proxies and spaces used with process or Ray executors must be
importable (registered by a module or an installed plugin), not defined interactively.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import math
import os
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import Any

from .arch import Arch
from .errors import ConfigError, ExecutorError
from .registry import make_space
from .scoring import Scorer, ScoreResult, device_kind

__all__ = [
    "ScoringJob",
    "Executor",
    "SequentialExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "get_executor",
    "job_key",
    "default_workers_per_device",
    "max_processes",
    "proxy_modules",
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


def _check_processes(what: str, n: int) -> None:
    limit = max_processes()
    if n > limit:
        raise ConfigError(f"{what}: {n} worker processes asked for; at most {limit} on this "
                          f"machine (4 per CPU core); lower --workers / --workers-per-device")


def _check_count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a whole number; got {value!r}") from None
    if n < 1 or n != float(value):
        raise ConfigError(f"{name} must be a whole number >= 1; got {value!r}")
    return n


def _tasks(n: int, per_task: int | None, width: int) -> list[list[int]]:
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


def _worker_scorer(key: str, get_job: Callable[[], ScoringJob]) -> Scorer:
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


def _import_proxies(proxies: Sequence[str], modules: Sequence[str]) -> None:
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


def _score_texts(scorer: Scorer, proxies: list[str], arch_texts: list[str]
                 ) -> tuple[str, list[list[dict]]]:
    out = []
    for t in arch_texts:
        arch = scorer.space.parse(t)
        out.append([r.to_dict() for r in scorer.score_many(arch, proxies)])
    return device_kind(scorer.device), out


def _init_process_worker(threads: int | None) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the run and its workers
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if threads:
        import torch

        torch.set_num_threads(threads)


def _process_task(job: ScoringJob, key: str, proxies: list[str], arch_texts: list[str],
                  modules: Sequence[str] = ()) -> tuple[str, list[list[dict]]]:
    _import_proxies(proxies, modules)
    return _score_texts(_worker_scorer(key, lambda: job), proxies, arch_texts)


def _ray_task(key: str, job_ref: list[Any], proxies: list[str], arch_texts: list[str],
              modules: Sequence[str] = ()) -> tuple[str, list[list[dict]]]:
    # the job's reference arrives inside a list, so Ray does not fetch the job (and its probe
    # batch) for every task: only a worker without a scorer of this key reads it
    def fetch() -> ScoringJob:
        import ray

        return ray.get(job_ref[0])

    _import_proxies(proxies, modules)
    return _score_texts(_worker_scorer(key, fetch), proxies, arch_texts)


def _ray_free_gpu_workers() -> int:
    return default_workers_per_device("cuda")


def _from_dicts(rows: list[dict]) -> list[ScoreResult]:
    return [ScoreResult(**r) for r in rows]


def _worker_died(job: ScoringJob, arch: Arch, device: str) -> list[ScoreResult]:
    from .proxies.base import get_proxy
    from .records import OOM

    why = (f"the worker process scoring this architecture alone on {device} died (killed by "
           "the system, most often for memory; lower --batch-size or set --chunk-size)")
    return [ScoreResult(arch.text, name, None, OOM, why,
                        higher_is_better=get_proxy(name).higher_is_better)
            for name in job.proxies]


class ProcessExecutor(Executor):
    """K worker processes per device: per GPU (``device=cuda``), or per CPU slot.

    Args:
        workers: GPUs to use (default: all), or CPU slots (default: half the cores).
        device: ``auto``, ``cpu``, ``cuda``.
        workers_per_device: K processes per device (default: :func:`default_workers_per_device`,
            1 on CPU, from free memory on a GPU): small cells fill a large GPU. Scores do not
            depend on K.
        archs_per_task: architectures per task (default: about two tasks per worker, at most 8).

    Each worker is pinned to one device (``cuda:k``) and keeps its scorer between tasks. CPU
    workers use ``cores // processes`` torch threads each (at least 1).
    """

    def __init__(self, workers: int | None = None, device: str = "auto",
                 workers_per_device: int | None = None,
                 archs_per_task: int | None = None) -> None:
        import multiprocessing as mp

        import torch

        workers = _check_count("workers", workers)
        k = _check_count("workers per device", workers_per_device)
        self.archs_per_task = _check_count("architectures per task", archs_per_task)
        slots: list[str]
        if str(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
            n = torch.cuda.device_count()
            if n == 0:
                raise ConfigError("ProcessExecutor: device cuda asked for, but no GPU is present")
            if workers is not None and workers > n:
                raise ConfigError(f"ProcessExecutor: {workers} GPUs asked for, {n} present")
            slots = [f"cuda:{g}" for g in range(workers or n)]
            k = k or default_workers_per_device(slots[0])
            threads = None
        else:
            slots = ["cpu"] * (workers or max(1, (os.cpu_count() or 2) // 2))
            k = k or 1
            threads = max(1, (os.cpu_count() or 1) // (len(slots) * k))
        _check_processes("ProcessExecutor", len(slots) * k)
        self.workers_per_device = k
        self.devices = [d for d in slots for _ in range(k)]
        self.parallelism = len(self.devices)
        self._ctx = mp.get_context("spawn")
        self._threads = threads
        self._pools = [self._new_pool() for _ in self.devices]

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(1, mp_context=self._ctx, initializer=_init_process_worker,
                                   initargs=(self._threads,))

    def _restart(self, k: int) -> None:
        self._pools[k].shutdown(wait=False, cancel_futures=True)
        self._pools[k] = self._new_pool()

    def device_kind(self, job: ScoringJob) -> str:
        return device_kind(self.devices[0])

    def run(self, job: ScoringJob, archs: Sequence[Arch], on_result: OnResult) -> None:
        base = job.portable()
        modules = proxy_modules(job.proxies)

        def submit(k: int, idx: list[int]) -> Future:
            j = replace(base, device=self.devices[k])
            return self._pools[k].submit(_process_task, j, job_key(j), list(job.proxies),
                                         [archs[i].text for i in idx], modules)

        def deliver(idx: list[int], fut: Future) -> None:
            kind, rows = fut.result()
            for i, r in zip(idx, rows):
                on_result(i, _from_dicts(r), kind)

        pending = []
        for t, idx in enumerate(_tasks(len(archs), self.archs_per_task, len(self._pools))):
            k = t % len(self._pools)
            pending.append((idx, k, submit(k, idx)))
        lost: list[int] = []
        broken: set[int] = set()
        for idx, k, fut in pending:
            try:
                deliver(idx, fut)
            except BrokenProcessPool:
                lost += idx
                broken.add(k)
        if not lost:
            return
        warnings.warn(f"a worker process died; scoring its {len(lost)} architecture(s) again, "
                      "one at a time in fresh workers", RuntimeWarning, stacklevel=2)
        for k in broken:
            self._restart(k)
        # one architecture per worker at a time: a worker that dies now died of that one
        running: dict[Future, tuple[int, int]] = {}
        queue = sorted(lost, reverse=True)
        free = list(range(len(self._pools)))
        while queue or running:
            while queue and free:
                k, i = free.pop(), queue.pop()
                running[submit(k, [i])] = (k, i)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                k, i = running.pop(fut)
                try:
                    deliver([i], fut)
                except BrokenProcessPool:
                    self._restart(k)
                    on_result(i, _worker_died(job, archs[i], self.devices[k]),
                              device_kind(self.devices[k]))
                free.append(k)

    def close(self) -> None:
        # queued tasks are dropped (after Ctrl-C or an error); running ones finish
        for p in self._pools:
            p.shutdown(wait=True, cancel_futures=True)


#: seconds to wait for a Ray head node (``--ray-address HOST:PORT`` / ``ray://HOST:PORT``) to
#: accept a connection before the address counts as unreachable
RAY_CONNECT_TIMEOUT = 10.0


def _check_reachable(address: str) -> None:
    """Refuse a Ray address whose host does not accept a TCP connection within
    :data:`RAY_CONNECT_TIMEOUT` (``auto`` is left to Ray: it reads a local address file)."""
    import socket

    text = address.strip()
    if text == "auto" or text == "local":
        return
    hostport = text.split("://", 1)[1] if "://" in text else text
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"Ray address {address!r}: give auto, HOST:PORT or ray://HOST:PORT")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ConfigError(f"cannot reach Ray at {address}: {why} (is the head node running "
                          "and its port open? `ray start --head` prints its address)") from None


class _loopback_only:
    """While a local Ray instance starts: its processes bind to 127.0.0.1 (Ray otherwise
    swaps a loopback ``_node_ip_address`` for the machine's network address)."""

    def __init__(self, active: bool) -> None:
        self.active = active
        self.saved: Any = None

    def __enter__(self) -> None:
        if not self.active:
            return
        try:
            from ray._private import ray_constants
        except ImportError:  # pragma: no cover - another Ray layout: Ray's default applies
            self.active = False
            return
        self.saved = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
        ray_constants.ENABLE_RAY_CLUSTER = False

    def __exit__(self, *exc: Any) -> None:
        if self.active and self.saved is not None:
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = self.saved


def _ray_errors_to_stderr() -> None:
    """Ray's driver prints the cluster's error messages (``A worker died ...``) on stdout;
    nasx's stdout carries results only (a ``--json`` document), so they go to stderr."""
    try:
        from ray._private import worker as ray_worker
    except ImportError:  # pragma: no cover - another Ray layout
        return
    original = getattr(ray_worker, "print_to_stdstream", None)
    if original is None or getattr(original, "nasx_stderr", False):
        return

    def to_stderr(data: dict, *args: Any, **kwargs: Any) -> Any:
        return original({**data, "is_err": True}, *args, **kwargs)

    to_stderr.nasx_stderr = True  # type: ignore[attr-defined]
    ray_worker.print_to_stdstream = to_stderr


class RayExecutor(Executor):
    """Scores on a Ray cluster, K tasks per GPU (fractional GPUs) or one task per CPU.

    Args:
        address: ``auto`` (join the cluster this machine belongs to), ``ray://host:port`` (Ray
            client) or a head node's ``host:port``; None joins a Ray instance already started in
            this process, else starts a local one (with ``workers`` CPUs when given).
        workers: most tasks in flight at once (default: the cluster's CPUs, or GPUs x K).
        workers_per_device: K tasks per GPU, each asking ``num_gpus=1/K`` (default: from the
            free memory of a GPU of the cluster, see :func:`default_workers_per_device`; 1 on
            a CPU-only cluster, where each task asks one CPU).
        archs_per_task: architectures per task (default: about two tasks per worker, at most 8).
        max_retries: how often a task whose worker process or node died is run again elsewhere.

    Each task scores several architectures; a worker keeps its scorer and its probe batch (on its
    device) under the job's content key (:func:`job_key`), so later tasks of the same job only
    ship architecture strings. Results come back per task and are stored as they arrive, so a
    failure loses at most the tasks in flight; a task that still fails after ``max_retries``
    raises :class:`~nasx.errors.ExecutorError`.
    """

    def __init__(self, address: str | None = None, workers: int | None = None,
                 workers_per_device: int | None = None, archs_per_task: int | None = None,
                 max_retries: int = 3, num_gpus: float | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "the Ray executor needs ray: pip install 'nasx[ray]'"
            ) from None
        self._ray = ray
        workers = _check_count("workers", workers)
        k = _check_count("workers per device", workers_per_device)
        self.archs_per_task = _check_count("architectures per task", archs_per_task)
        if int(max_retries) < 0:
            raise ConfigError(f"max_retries must be >= 0; got {max_retries}")
        self._owned = False
        if not ray.is_initialized():
            # Ray's own start-up lines would reach stderr; nasx reports through events only
            opts: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
            if address:
                _check_reachable(address)  # Ray itself retries an unreachable head for minutes
                opts["address"] = address
            else:  # a new local instance, never a cluster found on this machine
                self._owned = True
                opts.update(address="local", include_dashboard=False,
                            object_store_memory=256 * 2**20, _node_ip_address="127.0.0.1")
                if workers:
                    _check_processes("RayExecutor (local instance)", workers)
                    opts["num_cpus"] = workers
            try:
                with _loopback_only(not address):
                    ray.init(**opts)
            except Exception as exc:  # ConnectionError, ValueError, RuntimeError, ...
                where = address or "a local instance"
                raise ConfigError(f"cannot start or reach Ray at {where}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else exc!r}") from None
        _ray_errors_to_stderr()
        res = ray.cluster_resources()
        gpus = int(res.get("GPU", 0))
        if num_gpus is None and gpus:
            if k is None:
                k = int(ray.get(ray.remote(num_gpus=1)(_ray_free_gpu_workers).remote()))
            num_gpus = 1.0 / k
        self.num_gpus = float(num_gpus or 0)
        self.workers_per_device = k or 1
        if self.num_gpus:
            width = max(1, int(gpus / self.num_gpus))
            task_opts = {"num_gpus": self.num_gpus, "num_cpus": min(1.0, self.num_gpus)}
        else:
            width = max(1, int(res.get("CPU", 1)))
            task_opts = {"num_cpus": 1}
        # more tasks in flight than the cluster runs at once wait in Ray's queue
        self.parallelism = workers or width
        self._remote = ray.remote(max_retries=int(max_retries), retry_exceptions=False,
                                  **task_opts)(_ray_task)
        self._refs: OrderedDict[str, Any] = OrderedDict()

    def device_kind(self, job: ScoringJob) -> str:
        return "cuda" if self.num_gpus else "cpu"

    def _job_ref(self, job: ScoringJob) -> tuple[str, Any]:
        base = replace(job.portable(), device=self.device_kind(job))
        key = job_key(base)
        ref = self._refs.get(key)
        if ref is None:
            ref = self._refs[key] = self._ray.put(base)
            while len(self._refs) > 4:
                self._refs.popitem(last=False)
        return key, ref

    def run(self, job: ScoringJob, archs: Sequence[Arch], on_result: OnResult) -> None:
        ray = self._ray
        key, ref = self._job_ref(job)
        modules = proxy_modules(job.proxies)
        todo = _tasks(len(archs), self.archs_per_task, self.parallelism)[::-1]
        running: dict[Any, list[int]] = {}
        while todo or running:
            while todo and len(running) < self.parallelism:
                idx = todo.pop()
                fut = self._remote.remote(key, [ref], list(job.proxies),
                                          [archs[i].text for i in idx], modules)
                running[fut] = idx
            done, _ = ray.wait(list(running), num_returns=1)
            for fut in done:
                idx = running.pop(fut)
                try:
                    kind, rows = ray.get(fut)
                except ray.exceptions.RayError as exc:
                    for f in running:
                        ray.cancel(f)
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                    raise ExecutorError(
                        f"a Ray task of {len(idx)} architectures failed after its retries: "
                        f"{first}") from None
                for i, r in zip(idx, rows):
                    on_result(i, _from_dicts(r), kind)

    def close(self) -> None:
        self._refs.clear()
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        self._owned = False


def get_executor(name: str | Executor | None, device: str = "auto", **opts: Any) -> Executor:
    """``sequential`` (default), ``process`` or ``ray``; ``opts`` go to its constructor
    (``workers``, ``workers_per_device``, ``archs_per_task``; Ray: ``address``, ...)."""
    if isinstance(name, Executor):
        return name
    key = (name or "sequential").lower()
    opts = {k: v for k, v in opts.items() if v is not None}
    if key == "sequential":
        if opts:
            raise ConfigError(f"the sequential executor takes no options; got "
                              f"{', '.join(sorted(opts))}")
        return SequentialExecutor()
    try:
        if key == "process":
            return ProcessExecutor(device=device, **opts)
        if key == "ray":
            return RayExecutor(**opts)
    except TypeError as exc:
        raise ConfigError(f"executor {key}: {exc}") from None
    raise ConfigError(f"unknown executor {name!r}; use sequential, process or ray")
