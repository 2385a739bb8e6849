"""The public Python API: ``search``, ``score``, ``evaluate`` and the factories behind them.

Everything the CLI does goes through these functions, so every search can be scripted.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .arch import Arch
from .constraints import ConstraintChecker, Constraints
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
from .errors import BudgetError, ConfigError
from .events import Evaluated, Event, Notice, Progress, RunFinished, RunStarted
from .executors import Executor, ScoringJob, get_executor
from .population import leaf_proxies, population_values
from .proxies.base import ProxySpec, get_proxy
from .registry import spaces as _spaces
from .registry import strategies as _strategies
from .scoring import (
    OK,
    OOM,
    ScoreResult,
    check_chunk_size,
    check_grad_method,
    device_identity,
    key_options,
    resolve_device,
)
from .store import ScoreKey, Store, default_store_path, open_store
from .strategies.base import ask_width

__all__ = [
    "ScoreService",
    "SearchInterrupted",
    "SearchResult",
    "check_run_options",
    "make_batch",
    "make_space",
    "make_strategy",
    "parse_proxies",
    "score",
    "search",
]

OnEvent = Callable[[Event], None]


def make_space(name: str | Any, **opts: Any) -> Any:
    """Instantiate a registered space (``name``) with options; a space object passes through."""
    if not isinstance(name, str):
        if opts:
            raise ConfigError("space options given together with a space object")
        return name
    cls = _spaces.get(name)
    return cls(**opts)


def make_strategy(name: str | Any, space: Any, seed: int = 0, **opts: Any) -> Any:
    """Instantiate a registered strategy for ``space``."""
    if not isinstance(name, str):
        return name
    cls = _strategies.get(name)
    return cls(space, seed=seed, **opts)


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


class SearchInterrupted(KeyboardInterrupt):
    """A search stopped by Ctrl-C (SIGINT). Every score computed so far is in the store;
    ``result`` is the search result over the evaluations done (``stopped_by="interrupted"``)."""

    def __init__(self, result: SearchResult) -> None:
        super().__init__("search interrupted")
        self.result = result


def _opts_key(opts: Mapping[str, Any]) -> str:
    return json.dumps({k: opts[k] for k in sorted(opts)}, sort_keys=True, default=str)


class ScoreService:
    """Cache-aware scoring of many architectures with many proxies.

    Looks every (arch, proxy) up in the store first, sends only the missing ones to the
    executor, writes each new score to the store as soon as it exists, and returns results in
    the order asked. With a one-at-a-time executor every architecture is looked up again just
    before it is scored, so a score another process stored meanwhile is read, not recomputed.

    A stored failure is retried unless ``keep_failures`` is set; even then an out-of-memory
    failure is reused only on the physical device that ran out of memory.

    ``scoring_opts`` are further options of the scoring route that can change values (they go
    into every key through :func:`nasx.scoring.key_options`; None values are left out).
    """

    def __init__(
        self,
        space: Any,
        proxies: Sequence[ProxySpec],
        batch: ProbeBatch,
        *,
        device: Any = "auto",
        seed: int = 0,
        store: Store | None = None,
        executor: Executor | None = None,
        chunk_size: int | None = None,
        build_space: Any = None,
        keep_failures: bool = False,
        scoring_opts: Mapping[str, Any] | None = None,
        grad_method: str = "auto",
    ) -> None:
        self.space = space
        self.build_space = build_space or space
        self.proxies = list(proxies)
        self.batch = batch
        self.device = resolve_device(device)
        self.seed = int(seed)
        self.store = store
        self.chunk_size = check_chunk_size(chunk_size)
        self.keep_failures = keep_failures
        self.scoring_opts = dict(scoring_opts or {})
        self.grad_method = check_grad_method(grad_method)
        if self.grad_method != "auto":  # auto is the default route: keys stay as they were
            self.scoring_opts.setdefault("grad_method", self.grad_method)
        self.executor = executor or get_executor("sequential")
        self.job = ScoringJob(
            space_name=space.name,
            space_opts=dict(space.opts),
            proxies=[p.name for p in self.proxies],
            batch=batch,
            device=str(self.device),
            seed=self.seed,
            chunk_size=self.chunk_size,
            space=self.build_space,
            grad_method=self.grad_method,
        )
        self._space_key = _opts_key(space.opts)
        self._specs = {p.name: p for p in self.proxies}
        self._subjobs: dict[tuple[str, ...], ScoringJob] = {}
        self._device_name = device_identity(self.device)
        self._scoring = {
            p.name: json.dumps(key_options(p, chunk_size=self.chunk_size, **self.scoring_opts),
                               sort_keys=True)
            for p in self.proxies
        }
        #: the kind of device the executor's workers score on (the store key's device)
        self.device_kind = self.executor.device_kind(self.job)

    def key(self, arch: Arch, spec: ProxySpec, kind: str | None = None) -> ScoreKey:
        """The store key of ``arch`` scored by ``spec`` on a device of ``kind`` (default: the
        kind the executor's workers score on)."""
        scoring = self._scoring.get(spec.name)
        if scoring is None:
            scoring = json.dumps(key_options(spec, chunk_size=self.chunk_size,
                                             **self.scoring_opts), sort_keys=True)
        return ScoreKey(self.build_space.name, self._space_key, arch.key, spec.cache_id,
                        self.batch.fingerprint, self.seed, kind or self.device_kind, scoring)

    def _lookup(self, arch: Arch, spec: ProxySpec) -> ScoreResult | None:
        """A stored result that may be served (failures only when kept and still meaningful)."""
        if self.store is None:
            return None
        rec = self.store.get_record(self.key(arch, spec), spec.higher_is_better)
        if rec is None:
            return None
        hit, device_name = rec
        if hit.status == OK and hit.value is not None:
            return hit
        if not self.keep_failures:
            return None
        if hit.status == OOM and device_name != self._device_name:
            return None
        return hit

    def _missing(self, arch: Arch, have: dict[str, ScoreResult]) -> None:
        for spec in self.proxies:
            if spec.name not in have:
                hit = self._lookup(arch, spec)
                if hit is not None:
                    have[spec.name] = hit

    def score(self, archs: Sequence[Arch], on_scored: Callable[[int], None] | None = None
              ) -> list[dict[str, ScoreResult]]:
        """For each arch, ``{proxy name: ScoreResult}`` (cached results marked ``cached``).

        Each new score is stored once, as soon as its worker returns it, under the kind of
        device that worker computed it on; ``on_scored(i)`` is called once ``archs[i]`` has all
        its results (in completion order)."""
        out: list[dict[str, ScoreResult]] = [{} for _ in archs]
        missing: list[int] = []
        for i, a in enumerate(archs):
            self._missing(a, out[i])
            if len(out[i]) < len(self.proxies):
                missing.append(i)
            elif on_scored is not None:
                on_scored(i)
        # archs missing the same proxies are scored together, with only those proxies
        groups: dict[tuple[str, ...], list[int]] = {}
        for i in missing:
            names = tuple(s.name for s in self.proxies if s.name not in out[i])
            groups.setdefault(names, []).append(i)
        one_at_a_time = getattr(self.executor, "parallelism", 1) <= 1
        for names, idx in groups.items():
            if one_at_a_time:
                for i in idx:
                    if len(idx) > 1:  # another process may have stored it meanwhile
                        self._missing(archs[i], out[i])
                    todo = tuple(n for n in names if n not in out[i])
                    if todo:
                        self._compute(todo, [i], archs, out, on_scored)
                    elif on_scored is not None:
                        on_scored(i)
            else:
                self._compute(names, idx, archs, out, on_scored)
        return out

    def _compute(self, names: tuple[str, ...], idx: list[int], archs: Sequence[Arch],
                 out: list[dict[str, ScoreResult]],
                 on_scored: Callable[[int], None] | None) -> None:
        def keep(j: int, results: list[ScoreResult], kind: str) -> None:
            i = idx[j]
            for name, r in zip(names, results):
                out[i][name] = r
                if self.store is not None:
                    # the physical device is known for local workers; remote ones by kind
                    name_of = self._device_name if kind == self.device_kind else kind
                    self.store.put(self.key(archs[i], self._specs[name], kind), r,
                                   device_name=name_of)
            if on_scored is not None:
                on_scored(i)

        self.executor.run(self._job_for(names), [archs[i] for i in idx], keep)

    def _job_for(self, names: tuple[str, ...]) -> ScoringJob:
        """The scoring job restricted to ``names`` (the full job when all are missing)."""
        if list(names) == self.job.proxies:
            return self.job
        job = self._subjobs.get(names)
        if job is None:
            job = self._subjobs[names] = replace(self.job, proxies=list(names))
        return job


@dataclass(frozen=True)
class SearchResult:
    """What a search returns (``to_dict()`` is the ``--json`` output)."""

    best: Arch | None
    score: float | None
    proxy: str
    space: str
    strategy: str
    seed: int
    evaluated: int
    cached: int
    failed: int
    seconds: float
    data_fingerprint: str
    top: tuple[tuple[str, float], ...]
    run_id: str
    resumed: int = 0
    settings: Mapping[str, Any] = field(default_factory=dict)
    stopped_by: str = ""
    infeasible: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": str(self.best) if self.best is not None else None,
            "score": _json_float(self.score),
            "proxy": self.proxy,
            "space": self.space,
            "strategy": self.strategy,
            "seed": self.seed,
            "evaluated": self.evaluated,
            "cached": self.cached,
            "failed": self.failed,
            "infeasible": self.infeasible,
            "seconds": round(self.seconds, 3),
            "data_fingerprint": self.data_fingerprint,
            "top": [{"arch": a, "score": _json_float(s)} for a, s in self.top],
            "run_id": self.run_id,
            "resumed": self.resumed,
            "stopped_by": self.stopped_by,
            "settings": dict(self.settings),
        }


def _json_float(v: float | None) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(v)


def _fitness_values(
    spec: ProxySpec, leaves: Sequence[ProxySpec], rows: Sequence[dict[str, ScoreResult]]
) -> np.ndarray:
    """Raw scores of ``spec`` over the evaluated population (NaN for failures)."""
    leaf_values = {
        leaf.name: [r[leaf.name].value if r[leaf.name].ok else None for r in rows]
        for leaf in leaves
    }
    return population_values(spec, leaf_values)


def search(
    space: str | Any = "nasbench201",
    proxy: str | ProxySpec = "gradalign-i",
    strategy: str | Any = "random",
    budget: int | None = None,
    *,
    time_budget: float | None = None,
    max_params: float | str | None = None,
    max_flops: float | str | None = None,
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
        space: registered space name (or a space object).
        proxy: fitness proxy name (a population proxy such as ``te-nas`` is re-ranked over the
            evaluated population).
        strategy: registered strategy name (or a strategy object).
        budget: number of evaluations (scored architectures told to the strategy; an
            architecture asked again counts again, its score comes from the store). Optional
            for strategies that end by themselves (``pruning``).
        time_budget: wall-clock seconds; the search stops after the evaluation that crosses it.
        max_params: upper bound on the parameter count of the built network (``1.5M`` style
            strings accepted); see :mod:`nasx.constraints`.
        max_flops: upper bound on the FLOPs of one forward pass of one input.
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
    t_start = time.perf_counter()
    if budget is not None and budget < 1:
        raise BudgetError(f"budget must be at least 1; got {budget}")
    if time_budget is not None and time_budget <= 0:
        raise BudgetError(f"time budget must be positive; got {time_budget}")
    check_run_options(seed=seed, data_seed=data_seed, chunk_size=chunk_size,
                      batch_size=batch_size)
    emit = on_event or (lambda e: None)
    space_obj = make_space(space, **dict(space_opts or {}))
    spec = parse_proxies(proxy)
    if len(spec) != 1:
        raise ConfigError("search uses one fitness proxy; combine several with a population "
                          "proxy (e.g. an ensemble) or use `nasx eval` to compare them")
    fit = spec[0]
    leaves = leaf_proxies([fit])
    limits = Constraints.of(max_params, max_flops)
    strat = make_strategy(strategy, space_obj, seed, **dict(strategy_opts or {}))
    strat_name = getattr(strat, "name", type(strat).__name__)
    planned = getattr(strat, "planned_evaluations", None)
    if budget is None and time_budget is None and planned is None:
        raise BudgetError("give a budget (number of evaluations) and/or a time budget")
    if budget is not None and planned is not None and budget < planned:
        raise BudgetError(
            f"strategy {strat_name!r} needs {planned} evaluations on this space to converge; "
            f"the budget is {budget} (raise it, or give no evaluation budget)"
        )
    build_space = strat.wrap_space(space_obj)
    if limits.active and build_space is not space_obj:
        raise ConfigError(f"strategy {strat_name!r} scores supernets; --max-params/--max-flops "
                          "constraints apply to single architectures only")
    batch = make_batch(data, space_obj, batch_size=batch_size,
                       seed=seed if data_seed is None else data_seed, download=download,
                       proxies=leaves, on_event=emit)
    dev = resolve_device(device)
    st = _resolve_store(store)
    ex = get_executor(executor, device=str(dev), **dict(executor_opts or {}))
    service = ScoreService(space_obj, leaves, batch, device=dev, seed=seed, store=st,
                           executor=ex, chunk_size=chunk_size, build_space=build_space,
                           keep_failures=keep_failures, grad_method=grad_method)
    checker = (ConstraintChecker(space_obj, limits, batch.num_classes, store=st)
               if limits.active else None)
    settings = {
        "space": space_obj.name,
        "space_opts": dict(space_obj.opts),
        "proxy": fit.cache_id,
        "strategy": strat_name,
        "strategy_opts": dict(getattr(strat, "opts", {})),
        "seed": seed,
        "budget": budget,
        "time_budget": time_budget,
        "data": batch.source,
        "data_fingerprint": batch.fingerprint,
        "batch_size": len(batch),
        "device": service.device_kind,
    }
    if limits.active:
        settings["constraints"] = limits.to_dict()
    run_id = run or "run-" + hashlib.sha256(
        json.dumps(settings, sort_keys=True, default=str).encode()
    ).hexdigest()[:12]
    previous = st.run_get(run_id) if st is not None else None
    if previous is not None and run is not None:
        old = previous["settings"]
        diff = {k for k in set(settings) | set(old) if k not in ("time_budget", "budget")
                and old.get(k) != settings.get(k)}
        if diff:
            raise ConfigError(
                f"run {run!r} exists with different settings ({', '.join(sorted(diff))}); "
                "choose another --run name"
            )
    resumed = len(st.run_evals(run_id)) if (st is not None and previous is not None) else 0
    if st is not None:
        st.run_start(run_id, settings)
    emit(RunStarted(run_id, settings, budget, time_budget, resumed))

    archs: list[Arch] = []
    rows: list[dict[str, ScoreResult]] = []
    n_cached = n_failed = n_infeasible = streak = 0
    stopped_by = "exhausted"
    progress = getattr(strat, "progress", None)
    interrupted = False
    try:
        while True:
            if budget is not None and len(archs) >= budget:
                stopped_by = "budget"
                break
            if time_budget is not None and time.perf_counter() - t_start >= time_budget:
                stopped_by = "time"
                break
            if streak >= _MAX_INFEASIBLE_STREAK:
                stopped_by = "constraints"
                break
            want = ask_width(strat)  # the strategy's setting, never the executor's width
            if budget is not None:
                want = min(want, budget - len(archs))
            asked = strat.ask(want)
            if not asked:
                stopped_by = "exhausted"
                break
            reasons: list[tuple[str | None, dict[str, float]]] = [
                checker.check(a) if checker is not None else (None, {}) for a in asked
            ]
            feasible = [a for a, (why, _) in zip(asked, reasons) if why is None]
            t0 = time.perf_counter()
            scored = iter(service.score(feasible)) if feasible else iter(())
            per = (time.perf_counter() - t0) / max(1, len(feasible))
            for a, (why, measured) in zip(asked, reasons):
                top = _top(archs, _fitness_values(fit, leaves, rows) if rows else np.array([]),
                           fit, top_k) if why is not None else []
                if why is not None:
                    n_infeasible += 1
                    streak += 1
                    strat.tell(a, -math.inf, {"infeasible": why, **measured})
                    emit(Evaluated(
                        step=len(archs), arch=a.text, fitness=-math.inf, status="infeasible",
                        cached=False, seconds=0.0, n_evaluated=len(archs), n_cached=n_cached,
                        n_failed=n_failed, best_arch=top[0][0] if top else None,
                        best_fitness=top[0][1] if top else -math.inf, top=tuple(top),
                        n_infeasible=n_infeasible,
                        detail=why + ("; " + progress() if callable(progress) else ""),
                    ))
                    continue
                streak = 0
                res = next(scored)
                archs.append(a)
                rows.append(res)
                cached = all(r.cached for r in res.values())
                failed = any(not r.ok for r in res.values())
                n_cached += cached
                n_failed += failed
                values = _fitness_values(fit, leaves, rows)
                raw = values[-1]
                fitness = fit.oriented(float(raw)) if np.isfinite(raw) else -math.inf
                errors = [f"{k}: {r.error}" for k, r in res.items() if not r.ok]
                info: dict[str, Any] = {"results": res, "raw": raw, "proxy": fit}
                if measured:
                    info.update(measured)
                strat.tell(a, fitness, info)
                top = _top(archs, values, fit, top_k)
                status = "ok" if not failed else next(r.status for r in res.values() if not r.ok)
                payload = {"fitness": _json_float(fitness), "status": status, "cached": cached}
                if st is not None:
                    st.run_record(run_id, len(archs) - 1, a.text, payload)
                emit(Evaluated(
                    step=len(archs) - 1, arch=a.text, fitness=fitness, status=status,
                    cached=cached, seconds=0.0 if cached else per, n_evaluated=len(archs),
                    n_cached=n_cached, n_failed=n_failed,
                    best_arch=top[0][0] if top else None,
                    best_fitness=top[0][1] if top else -math.inf, top=tuple(top),
                    note="; ".join(errors), n_infeasible=n_infeasible,
                    detail=progress() if callable(progress) else "",
                ))
    except KeyboardInterrupt:
        # every score computed so far is already in the store; report the best of them
        interrupted = True
        stopped_by = "interrupted"
        n = min(len(archs), len(rows))  # an evaluation cut in the middle is left out
        del archs[n:], rows[n:]
    finally:
        if executor is None or isinstance(executor, str):
            ex.close()

    values = _fitness_values(fit, leaves, rows) if rows else np.array([])
    top = _top(archs, values, fit, top_k)
    own = strat.result()
    best: Arch | None
    best_raw: float | None
    if own is not None:
        best = own
        best_raw = next((float(values[i]) for i in range(len(archs) - 1, -1, -1)
                         if archs[i] == own and np.isfinite(values[i])), None)
    elif build_space is not space_obj:
        best, best_raw = None, None  # a supernet strategy stopped before it converged
    elif top:
        best = next(a for a in archs if a.text == top[0][0])
        best_raw = top[0][1]
    else:
        best, best_raw = None, None
    result = SearchResult(
        best=best,
        score=best_raw,
        proxy=fit.name,
        space=space_obj.name,
        strategy=settings["strategy"],
        seed=seed,
        evaluated=len(archs),
        cached=n_cached,
        failed=n_failed,
        seconds=time.perf_counter() - t_start,
        data_fingerprint=batch.fingerprint,
        top=tuple(top),
        run_id=run_id,
        resumed=min(resumed, len(archs)),
        settings=settings,
        stopped_by=stopped_by,
        infeasible=n_infeasible,
    )
    if interrupted:
        if st is not None and not isinstance(store, Store):
            st.close()
        raise SearchInterrupted(result)
    if st is not None:
        st.run_finish(run_id, result.to_dict())
        if not isinstance(store, Store):
            st.close()
    emit(RunFinished(result.to_dict()))
    return result


#: a search stops (``stopped_by="constraints"``) after this many infeasible asks in a row
_MAX_INFEASIBLE_STREAK = 1000


def _top(archs: Sequence[Arch], values: np.ndarray, fit: ProxySpec,
         k: int) -> list[tuple[str, float]]:
    """Best ``k`` distinct archs by oriented raw score; entries are (text, raw score)."""
    order = sorted(
        (i for i in range(len(archs)) if np.isfinite(values[i])),
        key=lambda i: (-fit.oriented(float(values[i])), i),
    )
    out, seen = [], set()
    for i in order:
        if archs[i].key in seen:
            continue
        seen.add(archs[i].key)
        out.append((archs[i].text, float(values[i])))
        if len(out) >= k:
            break
    return out


def _resolve_store(store: str | Store | None | bool) -> Store | None:
    if store is False:
        return None
    if store is None or store is True:
        return open_store(default_store_path())
    return open_store(store)


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
    check_run_options(seed=seed, data_seed=data_seed, chunk_size=chunk_size,
                      batch_size=batch_size)
    single = isinstance(archs, (str, Arch))
    items = [archs] if single else list(archs)  # type: ignore[list-item]
    space_obj = make_space(space, **dict(space_opts or {}))
    parsed = [space_obj.check(a) if isinstance(a, Arch) else space_obj.parse(a) for a in items]
    specs = parse_proxies(proxy)
    leaves = leaf_proxies(specs)
    batch = make_batch(data, space_obj, batch_size=batch_size,
                       seed=seed if data_seed is None else data_seed, download=download,
                       proxies=leaves, on_event=on_event)
    st = _resolve_store(store)
    ex = get_executor(executor, device=str(resolve_device(device)),
                      **dict(executor_opts or {}))
    service = ScoreService(space_obj, leaves, batch, device=device, seed=seed, store=st,
                           executor=ex, chunk_size=chunk_size, keep_failures=keep_failures,
                           grad_method=grad_method)
    done = [0]

    def scored(i: int) -> None:
        done[0] += 1
        if on_event:
            on_event(Progress(done[0], len(parsed), "score", parsed[i].text))

    try:
        rows = service.score(parsed, on_scored=scored)
    finally:
        if executor is None or isinstance(executor, str):
            ex.close()
        if st is not None and not isinstance(store, Store):
            st.close()
    out: list[ScoreResult] = []
    pop_values = {
        s.name: _fitness_values(s, leaves, rows) for s in specs if s.population
    }
    for i, a in enumerate(parsed):
        for s in specs:
            if s.population:
                v = float(pop_values[s.name][i])
                ok = math.isfinite(v)
                out.append(ScoreResult(a.text, s.name, v if ok else None,
                                       "ok" if ok else "failed",
                                       None if ok else "a component failed",
                                       sum(rows[i][c.name].seconds for c in leaves),
                                       all(r.cached for r in rows[i].values()),
                                       s.higher_is_better))
            else:
                out.append(rows[i][s.name])
    if single and len(specs) == 1:
        return out[0]
    return out


