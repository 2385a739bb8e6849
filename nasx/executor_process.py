"""The process executor: K worker processes per device (per GPU, or per CPU slot).

A worker that dies does not stop the call: the architectures of its lost tasks are scored again
one at a time, each alone in a fresh worker, and one that kills its worker on its own is recorded
with status ``oom``. Import it from :mod:`nasx.executors`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from .arch import Arch
from .errors import ConfigError
from .executor_base import (
    Executor,
    OnResult,
    ScoringJob,
    check_count,
    check_processes,
    default_workers_per_device,
    import_proxies,
    job_key,
    proxy_modules,
    results_from_dicts,
    score_texts,
    split_tasks,
    worker_scorer,
)
from .scoring import ScoreResult, device_kind

__all__ = ["ProcessExecutor"]


def _init_process_worker(threads: int | None) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the run and its workers
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if threads:
        import torch

        torch.set_num_threads(threads)


def _process_task(job: ScoringJob, key: str, proxies: list[str], arch_texts: list[str],
                  modules: Sequence[str] = ()) -> tuple[str, list[list[dict]]]:
    import_proxies(proxies, modules)
    return score_texts(worker_scorer(key, lambda: job), proxies, arch_texts)


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

        workers = check_count("workers", workers)
        k = check_count("workers per device", workers_per_device)
        self.archs_per_task = check_count("architectures per task", archs_per_task)
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
        check_processes("ProcessExecutor", len(slots) * k)
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
                on_result(i, results_from_dicts(r), kind)

        pending = []
        for t, idx in enumerate(split_tasks(len(archs), self.archs_per_task, len(self._pools))):
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
