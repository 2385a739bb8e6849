"""The Ray executor: scores on a Ray cluster (``pip install nasx[ray]``), K tasks per GPU
through fractional GPUs, or one task per CPU. Import it from :mod:`nasx.executors`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .arch import Arch
from .errors import ConfigError, ExecutorError
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

__all__ = ["RAY_CONNECT_TIMEOUT", "RayExecutor"]


def _ray_task(key: str, job_ref: list[Any], proxies: list[str], arch_texts: list[str],
              modules: Sequence[str] = ()) -> tuple[str, list[list[dict]]]:
    # the job's reference arrives inside a list, so Ray does not fetch the job (and its probe
    # batch) for every task: only a worker without a scorer of this key reads it
    def fetch() -> ScoringJob:
        import ray

        return ray.get(job_ref[0])

    import_proxies(proxies, modules)
    return score_texts(worker_scorer(key, fetch), proxies, arch_texts)


def _ray_free_gpu_workers() -> int:
    return default_workers_per_device("cuda")


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
        workers = check_count("workers", workers)
        k = check_count("workers per device", workers_per_device)
        self.archs_per_task = check_count("architectures per task", archs_per_task)
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
                    check_processes("RayExecutor (local instance)", workers)
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
        todo = split_tasks(len(archs), self.archs_per_task, self.parallelism)[::-1]
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
                    on_result(i, results_from_dicts(r), kind)

    def close(self) -> None:
        self._refs.clear()
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        self._owned = False
