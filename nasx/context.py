"""What every run (search, score, evaluation) sets up before scoring, in one place.

* :func:`check_run_options`: reject option values no run can use, before anything is loaded.
* :func:`parse_proxies`: proxy names (``"a,b"``, a list, specs) to specs.
* :func:`make_batch`: the probe batch (a class-balanced draw, or a shape-only batch when no
  proxy needs images).
* :func:`resolve_store`: the ``store`` argument of the API (None, False, a path, a store).
* :class:`RunContext`: opens the store and the executor of a run and closes what it opened,
  once, whatever happens (the store and executor objects a caller passes in stay open).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .data import (
    EMBEDDED,
    EMBEDDED_NOTE,
    ProbeBatch,
    ProbeDataset,
    draw_batch,
    load_dataset,
    needs_images,
    num_classes_of,
    shape_batch,
)
from .errors import ConfigError
from .events import Event, Notice
from .executors import Executor, get_executor
from .proxies.base import ProxySpec, get_proxy
from .scoring import check_chunk_size
from .store import Store, default_store_path, open_store

__all__ = [
    "DEFAULT_SAMPLE",
    "RunContext",
    "check_run_options",
    "make_batch",
    "parse_proxies",
    "resolve_store",
]

OnEvent = Callable[[Event], None]

#: architectures an evaluation samples from the ground truth by default (``nasx.evaluate`` and
#: ``nasx eval``)
DEFAULT_SAMPLE = 300


def check_run_options(*, seed: Any = 0, data_seed: Any = None, chunk_size: Any = None,
                      batch_size: Any = 128) -> None:
    """Reject option values no run can use, before any data is loaded or anything scored."""
    for name, v, optional in (("seed", seed, False), ("data seed", data_seed, True)):
        if v is None and optional:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 or v >= 2**63:
            raise ConfigError(f"{name} must be an integer in [0, 2**63); got {v!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ConfigError(f"batch size must be a positive integer; got {batch_size!r}")
    check_chunk_size(chunk_size)


def parse_proxies(proxy: str | ProxySpec | Sequence[str | ProxySpec]) -> list[ProxySpec]:
    """``"a,b"`` / ``["a", "b"]`` / a spec -> list of specs (unknown names: did-you-mean)."""
    if isinstance(proxy, (str, ProxySpec)):
        items: list[Any] = [p.strip() for p in proxy.split(",")] if isinstance(proxy, str) \
            else [proxy]
    else:
        items = list(proxy)
    specs = [get_proxy(p) for p in items if p != ""]
    if not specs:
        raise ConfigError("no proxy given")
    return specs


def make_batch(
    data: str | ProbeDataset | ProbeBatch | None,
    space: Any,
    *,
    batch_size: int = 128,
    seed: int = 0,
    download: bool = False,
    proxies: Sequence[ProxySpec] | None = None,
    on_event: OnEvent | None = None,
) -> ProbeBatch:
    """The probe batch for ``space``: a class-balanced draw from ``data`` or, when none of
    ``proxies`` needs images, a shape-only batch (nothing is loaded; see
    :func:`nasx.data.shape_batch`). ``data=None`` means the probe set shipped with nasx
    (announced once with a :class:`~nasx.events.Notice`)."""
    if isinstance(data, ProbeBatch):
        return data
    if proxies is not None and not needs_images(proxies):
        return shape_batch(space.input_shape, num_classes_of(data, download=download))
    if data is None:
        data = EMBEDDED
        if on_event is not None:
            on_event(Notice(EMBEDDED_NOTE, "data"))
    ds = load_dataset(data, download=download)
    return draw_batch(ds, batch_size, seed, input_size=tuple(space.input_shape[1:]))


def resolve_store(store: str | Store | None | bool) -> Store | None:
    """The store a run writes to: False = none; None or True = the user's default store; a
    path = that file; a :class:`~nasx.store.Store` = itself."""
    if store is False:
        return None
    if store is None or store is True:
        return open_store(default_store_path())
    return open_store(store)


class RunContext:
    """The store and the executor of one run, opened together and closed together.

    ``store`` and ``executor`` are the API's arguments: what the context opens from a path, a
    name or None it closes in :meth:`close` (also on an error or Ctrl-C, through ``with``);
    a :class:`~nasx.store.Store` or :class:`~nasx.executors.Executor` object passed in is the
    caller's and stays open.

    Example:
        >>> with RunContext(False, "sequential", device="cpu") as run:  # doctest: +SKIP
        ...     service = ScoreService(space, specs, batch, store=run.store,
        ...                            executor=run.executor)
    """

    def __init__(self, store: str | Store | None | bool, executor: str | Executor | None,
                 *, device: Any = "auto", executor_opts: Mapping[str, Any] | None = None
                 ) -> None:
        self.store = resolve_store(store)
        self._own_store = self.store is not None and not isinstance(store, Store)
        try:
            self.executor = get_executor(executor, device=str(device),
                                         **dict(executor_opts or {}))
        except BaseException:
            self._close_store()
            raise
        self._own_executor = executor is None or isinstance(executor, str)

    def _close_store(self) -> None:
        if self._own_store and self.store is not None:
            self.store.close()
        self._own_store = False

    def close_executor(self) -> None:
        """Release the executor's workers now, if this context opened it (once); the store
        stays open."""
        if self._own_executor:
            self._own_executor = False
            self.executor.close()

    def close(self) -> None:
        """Close the executor and the store this context opened (once each)."""
        try:
            self.close_executor()
        finally:
            self._close_store()

    def __enter__(self) -> RunContext:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
