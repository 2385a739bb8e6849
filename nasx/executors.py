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

The shared pieces live in :mod:`nasx.executor_base`, the parallel executors in
:mod:`nasx.executor_process` and :mod:`nasx.executor_ray`; this module gathers them.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError
from .executor_base import (
    Executor,
    OnResult,  # noqa: F401 - re-exported: nasx.executors.OnResult
    ScoringJob,
    SequentialExecutor,
    default_workers_per_device,
    job_key,
    max_processes,
    proxy_modules,
)
from .executor_process import ProcessExecutor
from .executor_ray import RAY_CONNECT_TIMEOUT, RayExecutor  # noqa: F401 - re-exported

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
