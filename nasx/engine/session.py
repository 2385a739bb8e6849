"""The one way a run is opened: a :class:`Session` over a :class:`RunSettings` record.

A session holds what the runs of one set of settings share, opened once and kept open until
:meth:`Session.close`:

* the device, resolved once;
* the store and the executor (its worker pool), opened on first use through
  :class:`~nasx.context.RunContext` (a store or executor object passed in stays the caller's);
* the probe batches, drawn once per input shape.

The three runs are its methods, :meth:`Session.search`, :meth:`Session.score` and
:meth:`Session.evaluate`; :func:`nasx.search`, :func:`nasx.score` and :func:`nasx.evaluate` open
a session, run one of them and close it. In a notebook, keep one open across calls (as an
Optuna ``Study`` is kept): the probe batch is drawn once and the worker pool started once.

Example:
    >>> from nasx.engine.session import Session  # doctest: +SKIP
    >>> with Session(data="probe.npz", device="cpu", store="scores.sqlite") as s:
    ...     r = s.search("nasbench201", "gradalign-i", "evolution", budget=100)
    ...     rep = s.evaluate("nasbench201", "gradalign-i", "accuracies.csv",
    ...                      acc_col="cifar10_test")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..context import RunContext, make_batch, parse_proxies
from ..evaluation import run_evaluation
from ..population import leaf_proxies
from ..registry import make_space
from ..scoring import resolve_device
from ..service import ScoreService, run_score
from ..settings import RunSettings
from .loop import run_search

if TYPE_CHECKING:

    from ..data import ProbeBatch
    from ..executors import Executor
    from ..proxies.base import ProxySpec
    from ..spaces.base import SearchSpace
    from ..store import Store

__all__ = ["Session"]


class Session:
    """An open run set-up: settings, device, store, executor and probe batches.

    Args:
        settings: the run settings; or give their fields as keywords instead
            (``Session(data="probe.npz", seed=1)``), see :class:`RunSettings`.
    """

    def __init__(self, settings: RunSettings | None = None, /, **options: Any) -> None:
        if settings is not None and options:
            raise TypeError("give a RunSettings record or its fields as keywords, not both")
        self.settings = settings if settings is not None else RunSettings(**options)
        #: the device, resolved once (``auto`` -> ``cuda`` when available, else ``cpu``)
        self.device = resolve_device(self.settings.device)
        self._ctx: RunContext | None = None
        self._batches: dict[tuple[Any, ...], ProbeBatch] = {}

    # -- what the runs share ------------------------------------------------------------------
    def _context(self) -> RunContext:
        if self._ctx is None:
            s = self.settings
            self._ctx = RunContext(s.store, s.executor, device=self.device,
                                   executor_opts=s.executor_opts)
        return self._ctx

    @property
    def store(self) -> Store | None:
        """The store runs read and write (None with ``store=False``); opened on first use."""
        return self._context().store

    @property
    def executor(self) -> Executor:
        """The executor that scores (its workers start on first use)."""
        return self._context().executor

    def space(self, space: str | Any, space_opts: Mapping[str, Any] | None = None
              ) -> SearchSpace:
        """The space object of a name (with options) or of a space object."""
        return make_space(space, **dict(space_opts or {}))

    def batch(self, space: SearchSpace, proxies: Sequence[ProxySpec]) -> ProbeBatch:
        """The probe batch for ``space`` and ``proxies``, drawn once per input shape (a
        shape-only batch when no proxy needs images; see :func:`nasx.context.make_batch`)."""
        from ..proxies.base import needs_images

        images = needs_images(proxies)
        key = (tuple(space.input_shape), images)
        batch = self._batches.get(key)
        if batch is None:
            s = self.settings
            batch = make_batch(s.data, space, batch_size=s.batch_size, seed=s.probe_seed,
                               download=s.download, proxies=proxies, on_event=s.on_event)
            self._batches[key] = batch
        return batch

    def service(self, space: SearchSpace, proxies: Sequence[ProxySpec],
                batch: ProbeBatch | None = None, *, seed: int | None = None,
                build_space: Any = None) -> ScoreService:
        """A :class:`~nasx.service.ScoreService` scoring ``proxies`` on ``space`` with this
        session's store, executor and scoring options (``seed`` defaults to the settings')."""
        s = self.settings if seed is None else self.settings.replace(seed=seed)
        return ScoreService(
            space, proxies, batch if batch is not None else self.batch(space, proxies),
            s.replace(device=self.device), store=self.store, executor=self.executor,
            build_space=build_space)

    def open(self, space: str | Any, proxy: Any, space_opts: Mapping[str, Any] | None = None
             ) -> tuple[SearchSpace, list[ProxySpec], list[ProxySpec]]:
        """The space, the proxies and their leaf proxies of a run (nothing is loaded yet)."""
        space_obj = self.space(space, space_opts)
        specs = parse_proxies(proxy)
        return space_obj, specs, leaf_proxies(specs)

    def close(self) -> None:
        """Close the executor and the store this session opened (once each)."""
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            ctx.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- the three runs: the functions that implement them take the session first ----------
    #: Search a space (:func:`nasx.engine.loop.run_search`; arguments as :func:`nasx.search`).
    search = run_search
    #: Score architectures (:func:`nasx.service.run_score`; arguments as :func:`nasx.score`).
    score = run_score
    #: Rank metrics on ground truth (:func:`nasx.evaluation.run_evaluation`; arguments as
    #: :func:`nasx.evaluate`).
    evaluate = run_evaluation
