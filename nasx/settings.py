"""The run settings: one frozen record of the options every run shares.

A search, a score run and an evaluation share the same options: where the probe data comes
from, how the batch is drawn, the seeds, the device, the store, the executor and the options of
the scoring route. They are written out once, here, as the fields of :class:`RunSettings`:
the public functions (:func:`nasx.search`, :func:`nasx.score`, :func:`nasx.evaluate`) list them
in their signatures and build the record with :meth:`RunSettings.pick`, the CLI builds it from
its flags, and everything below takes the record (:class:`~nasx.engine.session.Session`).

The record checks its values where it is built (:meth:`RunSettings.__post_init__`), so no layer
below checks them again; :attr:`RunSettings.probe_seed` is the seed of the probe-batch draw.

Example:
    >>> from nasx.settings import RunSettings
    >>> s = RunSettings(seed=3, device="cpu", store=False)
    >>> s.probe_seed
    3
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .data import ProbeBatch, ProbeDataset
    from .events import Event
    from .executors import Executor
    from .store import Store

__all__ = ["RunSettings"]


@dataclass(frozen=True)
class RunSettings:
    """What every run shares (a search, a score run, an evaluation).

    Attributes:
        data: probe data (see :func:`nasx.data.load_dataset`); None = the probe set shipped
            with nasx. Unused (a shape-only batch) when no proxy needs images.
        batch_size: probe batch size (class-balanced).
        seed: seed of the strategy, of the evaluation's sample and of every network
            initialisation.
        data_seed: seed of the probe-batch draw (default: ``seed``; see :attr:`probe_seed`).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        store: SQLite path; None = the default store in the cache folder; False = no store
            (in-memory; nothing is resumable); or a :class:`~nasx.store.Store`.
        chunk_size: per-sample-gradient chunk (lower it for big networks on small GPUs); for
            split-sensitive proxies (grad-norm, snip, fisher, grasp, jacob-cov) it changes the
            value and is recorded in the store key.
        grad_method: per-sample-gradient route (``auto``, ``capture``, ``vmap``; see
            :func:`nasx.grads.stream_per_sample_grads`); a forced route goes into the keys.
        download: download ``cifar10`` / ``cifar100`` into the cache when absent.
        keep_failures: reuse failures stored by an earlier run instead of retrying them (an
            out-of-memory failure is reused only on the device that ran out of memory).
        executor: ``sequential`` (default), ``process`` or ``ray`` (or an Executor).
        executor_opts: options of the executor (``workers``, ``workers_per_device``,
            ``archs_per_task``; Ray: ``address``, ``max_retries``); see :mod:`nasx.executors`.
        on_event: callback receiving :mod:`nasx.events` events (progress); not part of a run's
            identity.
    """

    data: str | ProbeDataset | ProbeBatch | None = None
    batch_size: int = 128
    seed: int = 0
    data_seed: int | None = None
    device: str = "auto"
    store: str | Store | None | bool = None
    chunk_size: int | None = None
    grad_method: str = "auto"
    download: bool = False
    keep_failures: bool = False
    executor: str | Executor | None = None
    executor_opts: Mapping[str, Any] = field(default_factory=dict)
    on_event: Callable[[Event], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        from .context import check_run_options
        from .scoring import check_grad_method

        check_run_options(seed=self.seed, data_seed=self.data_seed, chunk_size=self.chunk_size,
                          batch_size=self.batch_size)
        object.__setattr__(self, "grad_method", check_grad_method(self.grad_method))
        opts = {} if self.executor_opts is None else self.executor_opts
        if not isinstance(opts, Mapping):
            raise ConfigError(f"executor options must be a mapping; got {type(opts).__name__}")
        # a copy: later changes to the caller's dict do not reach the record
        object.__setattr__(self, "executor_opts", dict(opts))

    @property
    def probe_seed(self) -> int:
        """The seed of the probe-batch draw: ``data_seed``, else ``seed``."""
        return int(self.seed if self.data_seed is None else self.data_seed)

    def emit(self, event: Event) -> None:
        """Send ``event`` to ``on_event`` (nothing without one)."""
        if self.on_event is not None:
            self.on_event(event)

    def replace(self, **changes: Any) -> RunSettings:
        """A copy with ``changes`` (checked like a new record)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The field names, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def pick(cls, values: Mapping[str, Any]) -> RunSettings:
        """The record of the fields found in ``values`` (e.g. a public function's
        ``locals()``); other keys are ignored, missing fields take their defaults."""
        return cls(**{n: values[n] for n in cls.names() if n in values})
