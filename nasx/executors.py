"""Executors own concurrency; every one runs the same ask -> score -> tell loop.

* :class:`SequentialExecutor` (default): scores in this process.
* :class:`ProcessExecutor`: one worker process per GPU (or ``workers`` CPU processes).
* :class:`RayExecutor`: Ray tasks on a cluster (``pip install nasx[ray]``).

An executor only maps a :class:`ScoringJob` over architectures; the cache lookup, the store
writes, the strategy calls and the events live in :func:`run_loop`, so a strategy behaves the
same on one CPU or a cluster. Asked batches are scored, then told in ask order, so results do not
depend on which worker finished first.

Workers rebuild the space, the proxies and the probe batch from the job description, so proxies
and spaces used with process or Ray executors must be importable (registered by a module or an
installed plugin), not defined interactively.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .arch import Arch
from .errors import ConfigError
from .scoring import Scorer, ScoreResult

__all__ = [
    "ScoringJob",
    "Executor",
    "SequentialExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "get_executor",
]


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

    def scorer(self) -> Scorer:
        space = self.space
        if space is None:
            from .api import make_space

            space = make_space(self.space_name, **self.space_opts)
        return Scorer(space, self.batch, device=self.device, seed=self.seed,
                      chunk_size=self.chunk_size)

    def portable(self) -> ScoringJob:
        """A copy with the batch on the CPU (for other processes; the space is pickled)."""
        return ScoringJob(self.space_name, self.space_opts, self.proxies, self.batch.to("cpu"),
                          self.device, self.seed, self.chunk_size, self.space)


class Executor(abc.ABC):
    """Maps a scoring job over architectures."""

    #: how many architectures it is worth asking for at once
    parallelism: int = 1

    @abc.abstractmethod
    def map(self, job: ScoringJob, archs: Sequence[Arch]) -> list[list[ScoreResult]]:
        """Per architecture, the results of every proxy of ``job`` (in ``job.proxies`` order)."""

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
        self._key: tuple[Any, ...] | None = None

    def map(self, job: ScoringJob, archs: Sequence[Arch]) -> list[list[ScoreResult]]:
        # jobs that differ only in their proxies share one scorer (and its device batch)
        key = (id(job.space), job.space_name, job.batch.fingerprint, job.device, job.seed,
               job.chunk_size)
        if self._key != key or self._scorer is None:
            self._scorer, self._key = job.scorer(), key
        return [self._scorer.score_many(a, job.proxies) for a in archs]


_WORKER_SCORERS: dict[int, Scorer] = {}


def _worker_score(job: ScoringJob, arch_texts: list[str], job_id: int) -> list[list[dict]]:
    scorer = _WORKER_SCORERS.get(job_id)
    if scorer is None:
        _WORKER_SCORERS.clear()
        scorer = _WORKER_SCORERS[job_id] = job.scorer()
    out = []
    for t in arch_texts:
        arch = scorer.space.parse(t)
        out.append([r.to_dict() for r in scorer.score_many(arch, job.proxies)])
    return out


def _from_dicts(rows: list[dict]) -> list[ScoreResult]:
    return [ScoreResult(**r) for r in rows]


class ProcessExecutor(Executor):
    """One worker process per GPU (``device=cuda``) or ``workers`` CPU processes.

    Each worker is pinned to one device (``cuda:k``) and keeps its scorer between batches.
    """

    def __init__(self, workers: int | None = None, device: str = "auto") -> None:
        import multiprocessing as mp

        import torch

        self.devices: list[str]
        if str(device).startswith("cuda") or (device == "auto" and torch.cuda.is_available()):
            n = torch.cuda.device_count()
            if n == 0:
                raise ConfigError("ProcessExecutor: device cuda asked for, but no GPU is present")
            self.devices = [f"cuda:{k}" for k in range(workers or n)]
        else:
            self.devices = ["cpu"] * (workers or max(1, (os.cpu_count() or 2) // 2))
        self.parallelism = len(self.devices)
        ctx = mp.get_context("spawn")
        self._pools = [ctx.Pool(1) for _ in self.devices]
        self._job_ids: dict[int, int] = {}

    def map(self, job: ScoringJob, archs: Sequence[Arch]) -> list[list[ScoreResult]]:
        base = job.portable()
        jid = self._job_ids.setdefault(id(job), len(self._job_ids) + 1)
        parts: list[list[int]] = [[] for _ in self._pools]
        for i in range(len(archs)):
            parts[i % len(self._pools)].append(i)
        pending = []
        for k, (pool, idx) in enumerate(zip(self._pools, parts)):
            if not idx:
                continue
            j = ScoringJob(base.space_name, base.space_opts, base.proxies, base.batch,
                           self.devices[k], base.seed, base.chunk_size, base.space)
            pending.append((idx, pool.apply_async(_worker_score,
                                                  (j, [archs[i].text for i in idx], jid))))
        out: list[list[ScoreResult] | None] = [None] * len(archs)
        for idx, res in pending:
            for i, rows in zip(idx, res.get()):
                out[i] = _from_dicts(rows)
        return out  # type: ignore[return-value]

    def close(self) -> None:
        for p in self._pools:
            p.close()
            p.join()


class RayExecutor(Executor):
    """Scores on a Ray cluster: one task per architecture, each given one GPU when the
    cluster has GPUs (``num_gpus=1``), else CPUs.

    Args:
        address: Ray address (``auto`` to join a running cluster; None starts a local one).
        num_gpus: GPUs per task (default 1 when the cluster has GPUs, else 0).
        parallelism: how many architectures to ask for at once (default: cluster GPUs or CPUs).
    """

    def __init__(self, address: str | None = None, num_gpus: float | None = None,
                 parallelism: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "the Ray executor needs ray: pip install 'nasx[ray]'"
            ) from None
        self._ray = ray
        if not ray.is_initialized():
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        res = ray.cluster_resources()
        gpus = int(res.get("GPU", 0))
        self.num_gpus = num_gpus if num_gpus is not None else (1 if gpus else 0)
        self.parallelism = parallelism or max(1, gpus or int(res.get("CPU", 1)))
        self._remote = ray.remote(num_gpus=self.num_gpus)(_worker_score)

    def map(self, job: ScoringJob, archs: Sequence[Arch]) -> list[list[ScoreResult]]:
        base = job.portable()
        base.device = "cuda" if self.num_gpus else "cpu"
        ref = self._ray.put(base)
        futures = [self._remote.remote(ref, [a.text], id(job)) for a in archs]
        return [_from_dicts(rows[0]) for rows in self._ray.get(futures)]


def get_executor(name: str | Executor | None, device: str = "auto", **opts: Any) -> Executor:
    """``sequential`` (default), ``process`` or ``ray``."""
    if isinstance(name, Executor):
        return name
    key = (name or "sequential").lower()
    if key == "sequential":
        return SequentialExecutor()
    if key == "process":
        return ProcessExecutor(device=device, **opts)
    if key == "ray":
        return RayExecutor(**opts)
    raise ConfigError(f"unknown executor {name!r}; use sequential, process or ray")
