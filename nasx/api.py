"""The public Python API: ``search``, ``score``, ``evaluate``, with their real signatures.

Each function builds the run settings record (:class:`nasx.settings.RunSettings`, which
checks the values) from its arguments, opens a :class:`nasx.engine.session.Session` on it, runs
one run and closes the session. The implementations are imported on first use so that
``import nasx`` stays light. The CLI builds the same record from its flags and runs the same
session methods, so every search can be scripted; to keep one probe batch and one worker pool
across several runs, use a :class:`~nasx.engine.session.Session` directly.

The building blocks stay importable from here (``from nasx.api import make_space``):
``make_space`` / ``make_strategy`` (:mod:`nasx.registry`), ``parse_proxies``, ``make_batch``,
``check_run_options`` (:mod:`nasx.context`), ``ScoreService`` (:mod:`nasx.service`),
``SearchResult`` (:mod:`nasx.records`), ``SearchInterrupted`` (:mod:`nasx.engine.loop`).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .arch import Arch
    from .context import check_run_options, make_batch, parse_proxies
    from .data import ProbeBatch, ProbeDataset
    from .engine.loop import SearchInterrupted
    from .engine.session import Session
    from .evaluation import EvalReport
    from .events import Event
    from .executors import Executor
    from .proxies.base import ProxySpec
    from .records import ScoreResult, SearchResult
    from .registry import make_space, make_strategy
    from .service import ScoreService
    from .settings import RunSettings
    from .store import Store

__all__ = [
    "RunSettings",
    "ScoreService",
    "SearchInterrupted",
    "SearchResult",
    "Session",
    "check_run_options",
    "evaluate",
    "make_batch",
    "make_space",
    "make_strategy",
    "parse_proxies",
    "score",
    "search",
]

OnEvent = Callable[["Event"], None]

#: names re-exported from the modules that define them (imported on first access)
_REEXPORTS = {
    "make_space": "nasx.registry",
    "make_strategy": "nasx.registry",
    "parse_proxies": "nasx.context",
    "make_batch": "nasx.context",
    "check_run_options": "nasx.context",
    "ScoreService": "nasx.service",
    "SearchResult": "nasx.records",
    "SearchInterrupted": "nasx.engine.loop",
    "RunSettings": "nasx.settings",
    "Session": "nasx.engine.session",
}


def __getattr__(name: str) -> Any:
    module = _REEXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_REEXPORTS))


def _session(args: Mapping[str, Any]) -> Session:
    """A session over the run settings among a public function's arguments (the record is
    built, and its values checked, once here)."""
    from .engine.session import Session
    from .settings import RunSettings

    return Session(RunSettings.pick(args))


def search(
    space: str | Any = "nasbench201",
    proxy: str | ProxySpec = "gradalign-i",
    strategy: str | Any = "random",
    budget: int | None = None,
    *,
    time_budget: float | None = None,
    max_params: float | str | None = None,
    max_flops: float | str | None = None,
    max_latency_ms: float | str | None = None,
    data: str | ProbeDataset | ProbeBatch | None = None,
    batch_size: int = 128,
    seed: int = 0,
    data_seed: int | None = None,
    device: str = "auto",
    store: str | Store | None | bool = None,
    space_opts: Mapping[str, Any] | None = None,
    strategy_opts: Mapping[str, Any] | None = None,
    executor: str | Executor | None = None,
    executor_opts: Mapping[str, Any] | None = None,
    top_k: int = 10,
    run: str | None = None,
    pareto: Sequence[str] = (),
    chunk_size: int | None = None,
    download: bool = False,
    keep_failures: bool = False,
    grad_method: str = "auto",
    on_event: OnEvent | None = None,
) -> SearchResult:
    """Search ``space`` for the architecture the proxy scores best.

    The loop: the strategy asks for architectures, each is checked against the constraints
    (an infeasible one is told to the strategy with fitness ``-inf`` and never scored), the
    feasible ones are scored (the store answers those it already has), and all are told back in
    ask order. A run is a deterministic replay of its settings: a killed run, started again with
    the same settings (or ``run`` name), replays its strategy and every score already stored is
    read back, so none is computed twice and the result equals that of an uninterrupted run.

    Args:
        space: registered space name, a space object, a define-by-run space function
            ``fn(trial) -> nn.Module`` or its ``module:function`` / ``file.py:function`` target
            (see :mod:`nasx.spaces.define_by_run`).
        proxy: fitness proxy name (a population proxy such as ``te-nas`` is re-ranked over the
            evaluated population).
        strategy: registered strategy name (or a strategy object).
        budget: number of evaluations (scored architectures told to the strategy; an
            architecture asked again counts again, its score comes from the store). Optional
            for strategies that end by themselves (``pruning``).
        time_budget: wall-clock seconds (positive, finite); no evaluation starts once they are
            spent, so a run overruns by at most the evaluations in flight.
        max_params: upper bound on the parameter count of the built network (``1.5M`` style
            strings accepted); see :mod:`nasx.constraints`.
        max_flops: upper bound on the FLOPs of one forward pass of one input.
        max_latency_ms: upper bound on the measured forward latency in milliseconds on the
            scoring device (the ``latency`` proxy's measurement, batch 1; see
            :mod:`nasx.proxies.latency`).
        data: probe data (see :func:`nasx.data.load_dataset`); None = the probe set shipped
            with nasx. Unused (a shape-only batch) when the proxy needs no images.
        batch_size: probe batch size (class-balanced).
        seed: seed of the strategy and of every network initialisation.
        data_seed: seed of the probe-batch draw (default: ``seed``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        store: SQLite path; None = the default store in the cache folder; False = no store
            (in-memory; nothing is resumable).
        space_opts / strategy_opts: options of the space / strategy.
        executor: ``sequential`` (default), ``process`` or ``ray`` (or an Executor).
        executor_opts: options of the executor (``workers``, ``workers_per_device``,
            ``archs_per_task``; Ray: ``address``, ``max_retries``); see :mod:`nasx.executors`.
        top_k: size of the reported top list.
        pareto: costs (``params``, ``flops``, ``latency``) to report the Pareto front of the
            evaluated architectures over, fitness against them (``result.pareto``).
        run: a run name; by default a run is identified by its settings. Running the same
            settings again resumes (every score already in the store is reused).
        chunk_size: per-sample-gradient chunk (lower it for big networks on small GPUs); for
            split-sensitive proxies (grad-norm, snip, fisher, grasp, jacob-cov) it changes the
            value and is recorded in the store key.
        keep_failures: reuse failures stored by an earlier run instead of retrying them (an
            out-of-memory failure is reused only on the device that ran out of memory).
        grad_method: per-sample-gradient route (``auto``, ``capture``, ``vmap``; see
            :func:`nasx.grads.stream_per_sample_grads`); a forced route goes into the keys.
        on_event: callback receiving :mod:`nasx.events` events (progress).

    Raises:
        SearchInterrupted: on Ctrl-C; its ``result`` holds the best so far.

    Example:
        >>> import nasx  # doctest: +SKIP
        >>> r = nasx.search("nasbench201", "gradalign-i", "evolution", budget=20,
        ...                 data="probe.npz", seed=0, max_params="1M")  # doctest: +SKIP
        >>> print(r.best, r.score)  # doctest: +SKIP
    """
    with _session(locals()) as s:
        return s.search(space, proxy, strategy, budget, time_budget=time_budget,
                        max_params=max_params, max_flops=max_flops,
                        max_latency_ms=max_latency_ms, space_opts=space_opts,
                        strategy_opts=strategy_opts, top_k=top_k, run=run, pareto=pareto)


def score(
    archs: str | Arch | Iterable[str | Arch],
    space: str | Any = "nasbench201",
    proxy: str | Sequence[str] = "gradalign-i",
    *,
    data: str | ProbeDataset | ProbeBatch | None = None,
    batch_size: int = 128,
    seed: int = 0,
    data_seed: int | None = None,
    device: str = "auto",
    store: str | Store | None | bool = False,
    space_opts: Mapping[str, Any] | None = None,
    executor: str | Executor | None = None,
    executor_opts: Mapping[str, Any] | None = None,
    chunk_size: int | None = None,
    download: bool = False,
    keep_failures: bool = False,
    grad_method: str = "auto",
    on_event: OnEvent | None = None,
) -> list[ScoreResult] | ScoreResult:
    """Score architectures (strings in the space's notation, or Arch values) with proxies.

    Returns one :class:`ScoreResult` for one arch and one proxy, else a flat list ordered by
    arch, then proxy. Population proxies are combined over the given architectures.

    Example:
        >>> import nasx  # doctest: +SKIP
        >>> r = nasx.score("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+"
        ...                "|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
        ...                space="nasbench201", proxy="gradalign-i", data="probe.npz")
        ...  # doctest: +SKIP
    """
    with _session(locals()) as s:
        return s.score(archs, space, proxy, space_opts=space_opts)


def evaluate(
    space: str | Any,
    proxy: str | ProxySpec | Sequence[str | ProxySpec],
    truth: str | os.PathLike[str] | Sequence[tuple[Any, float]],
    *,
    arch_col: str = "arch",
    acc_col: str = "accuracy",
    sample: int | None = 300,
    seed: int = 0,
    init_seeds: int = 1,
    data: str | ProbeDataset | ProbeBatch | None = None,
    batch_size: int = 128,
    data_seed: int | None = None,
    device: str = "auto",
    store: Any = None,
    space_opts: Mapping[str, Any] | None = None,
    executor: str | Executor | None = None,
    executor_opts: Mapping[str, Any] | None = None,
    chunk_size: int | None = None,
    download: bool = False,
    keep_failures: bool = False,
    grad_method: str = "auto",
    on_event: OnEvent | None = None,
) -> EvalReport:
    """Score a sample of ground-truth architectures and report rank metrics per proxy.

    Args:
        space: registered space, space object or define-by-run space function (as in
            :func:`nasx.search`).
        proxy: one or more proxies (``"a,b"`` or a list); all are scored together on each
            architecture (shared initial weights, shared cache); population proxies are
            combined over the sample.
        truth: a CSV path, or a sequence of (arch or arch string, accuracy).
        arch_col / acc_col: CSV column names.
        sample: number of architectures sampled without replacement with
            ``numpy.random.default_rng(seed)``; None (or at least the file's size) = all.
            Architectures that are equal in the space (same canonical key) are one entry with
            their mean accuracy.
        seed: seed of the sample, of the probe batch (unless ``data_seed``) and of the first
            weight initialisation.
        init_seeds: repeat with this many initialisation seeds; metrics get mean and std.
        data, batch_size, data_seed, device, store, executor, executor_opts, chunk_size,
            keep_failures, grad_method: as in
            :func:`nasx.search` (store: None = the user store, False = none, or a path; every
            score is written as soon as it exists, so an interrupted evaluation resumes).
        on_event: receives :class:`nasx.events.Progress` events.

    Example:
        >>> rep = nasx.evaluate("nasbench201", "gradalign-i", "accuracies.csv",
        ...                     acc_col="cifar10_test", sample=300, data="probe.npz")
        ...  # doctest: +SKIP
        >>> rep.metrics["gradalign-i"]["kendall"]  # doctest: +SKIP
    """
    with _session(locals()) as s:
        return s.evaluate(space, proxy, truth, arch_col=arch_col, acc_col=acc_col,
                          sample=sample, init_seeds=init_seeds, space_opts=space_opts)
