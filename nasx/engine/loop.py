"""The search loop: one object that runs a search as ask -> check -> score -> tell -> record
-> emit steps, and ``run_search``, which sets a search up and runs its loop.

A step of :class:`SearchLoop`:

1. **ask** the strategy for ``ask_width`` architectures (its own setting, never the executor's
   width; fewer when the evaluation budget ends);
2. **check** each against the constraints (an infeasible one is never scored);
3. **score** the feasible ones through the :class:`~nasx.service.ScoreService` (the store
   answers those it has; the executor scores the rest);
4. **tell** the strategy each result in ask order, as a frozen
   :class:`~nasx.records.Evaluation`;
5. **record** the evaluation in the run's store (``runs`` tables, so a run can be listed);
6. **emit** an :class:`~nasx.events.Evaluated` event (progress and the live top-k).

It stops at the evaluation budget, the time budget, after :data:`MAX_INFEASIBLE_STREAK`
infeasible asks in a row, or when the strategy asks for nothing more.

The time budget is checked before every ask and, within an ask, before each evaluation is
started: with a time budget the feasible architectures of an ask are scored in slices of the
executor's width (one at a time on the sequential executor), and no slice starts once the
budget is spent. A run thus overruns its time budget by at most the evaluations in flight (one
per worker), never by a whole ask; the architectures asked but not started are not scored.
Without a time budget an ask is scored in one call (the executor spreads it over its workers).

A run is a deterministic replay of its settings, so a killed run started again reads every
stored score back and ends where an uninterrupted run ends (the store does the resuming, not a
checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arch import Arch
from ..constraints import ConstraintChecker, Constraints
from ..errors import BudgetError, ConfigError
from ..events import Evaluated, Event, RunFinished, RunStarted
from ..pareto import search_front
from ..population import population_fitness
from ..proxies.base import ProxySpec
from ..records import INFEASIBLE, Evaluation, ScoreResult, SearchResult, finite_or_none
from ..registry import make_strategy, strategies
from ..service import ScoreService
from ..store import Store
from ..strategies.base import Strategy, ask_width

if TYPE_CHECKING:
    from .session import Session

__all__ = [
    "DEFAULT_BUDGET",
    "MAX_INFEASIBLE_STREAK",
    "SearchInterrupted",
    "SearchLoop",
    "check_budgets",
    "default_budget",
    "run_search",
]

#: the costs a search's Pareto front can be taken over (lower is better)
PARETO_COSTS = ("params", "flops", "latency")
#: a search stops (``stopped_by="constraints"``) after this many infeasible asks in a row
MAX_INFEASIBLE_STREAK = 1000
#: evaluations of a ``nasx search`` given neither ``--budget`` nor ``--time-budget``, for a
#: strategy that does not end by itself
DEFAULT_BUDGET = 100


def default_budget(strategy: str | type | Any) -> int | None:
    """The evaluation budget ``nasx search`` uses when none is given: None for a strategy that
    ends by itself (``converges``, e.g. pruning), else :data:`DEFAULT_BUDGET`. The Python API
    uses no default: ``nasx.search`` without any budget raises :class:`BudgetError` for a
    strategy that does not converge."""
    cls = strategies.get(strategy) if isinstance(strategy, str) else strategy
    return None if getattr(cls, "converges", False) else DEFAULT_BUDGET


class SearchInterrupted(KeyboardInterrupt):
    """A search stopped by Ctrl-C (SIGINT). Every score computed so far is in the store;
    ``result`` is the search result over the evaluations done (``stopped_by="interrupted"``)."""

    def __init__(self, result: SearchResult, untold: int = 0) -> None:
        super().__init__("search interrupted")
        self.result = result
        #: architectures whose scores were computed (and stored) in the ask the interrupt cut,
        #: but not yet counted as evaluations: the same command again reads them back
        self.untold = untold


def check_budgets(budget: Any, time_budget: Any) -> None:
    """Reject budgets no search can run with: ``budget`` a whole number >= 1 (no bool),
    ``time_budget`` a positive, finite number of seconds (NaN would never end a run)."""
    if budget is not None and (isinstance(budget, bool)
                               or not isinstance(budget, (int, np.integer)) or budget < 1):
        raise BudgetError(f"budget must be a whole number of evaluations >= 1; got {budget!r}")
    if time_budget is not None:
        ok = not isinstance(time_budget, bool) and isinstance(time_budget, (int, float))
        if not ok or not math.isfinite(time_budget) or time_budget <= 0:
            raise BudgetError("time budget must be a positive, finite number of seconds; got "
                              f"{time_budget!r}")


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


class SearchLoop:
    """One search run over a strategy, a fitness proxy and a score service.

    Args:
        strategy: the strategy (asked and told).
        fit: the fitness proxy (a population proxy is re-ranked over everything evaluated).
        service: scores the leaf proxies of ``fit`` (``service.proxies``).
        checker: the constraint checker, None without constraints.
        store: where evaluations are recorded (``run_id``), None for none.
        run_id: the run's identity in the store.
        budget / time_budget: evaluation and wall-clock budgets (None: none).
        top_k: size of the top list in events and in the result.
        on_event: receives the :class:`~nasx.events.Evaluated` events.
        t_start: ``time.perf_counter()`` at the start of the run (the time budget counts from
            it; default: now).

    :meth:`run` runs the steps until a stop; Ctrl-C ends it with ``stopped_by="interrupted"``
    and the evaluations completed so far (an evaluation cut in the middle is left out).
    """

    def __init__(self, strategy: Strategy, fit: ProxySpec, service: ScoreService, *,
                 checker: ConstraintChecker | None = None, store: Store | None = None,
                 run_id: str = "", budget: int | None = None, time_budget: float | None = None,
                 top_k: int = 10, on_event: Callable[[Event], None] | None = None,
                 t_start: float | None = None) -> None:
        self.strategy = strategy
        self.fit = fit
        self.service = service
        self.checker = checker
        self.store = store
        self.run_id = run_id
        self.budget = budget
        self.time_budget = time_budget
        self.top_k = top_k
        self.emit = on_event or (lambda e: None)
        self.t_start = time.perf_counter() if t_start is None else t_start
        progress = getattr(strategy, "progress", None)
        self._progress: Callable[[], str] | None = progress if callable(progress) else None
        #: evaluated (scored) architectures and their leaf results, in tell order
        self.archs: list[Arch] = []
        self.rows: list[dict[str, ScoreResult]] = []
        self.n_cached = self.n_failed = self.n_infeasible = 0
        self._streak = 0  # infeasible asks in a row
        self.stopped_by = ""
        self.interrupted = False
        #: architectures of the current ask scored (and stored) but not yet told
        self.untold = 0
        #: the feasible architectures of the current ask not yet told, in ask order, with
        #: their constraint measurements
        self._inflight: list[tuple[Arch, Mapping[str, float]]] = []

    # -- the steps -----------------------------------------------------------------------------
    def _out_of_time(self) -> bool:
        return self.time_budget is not None and \
            time.perf_counter() - self.t_start >= self.time_budget

    def _stop(self) -> str | None:
        if self.budget is not None and len(self.archs) >= self.budget:
            return "budget"
        if self._out_of_time():
            return "time"
        if self._streak >= MAX_INFEASIBLE_STREAK:
            return "constraints"
        return None

    def ask(self) -> list[Arch]:
        want = ask_width(self.strategy)  # the strategy's setting, never the executor's width
        if self.budget is not None:
            want = min(want, self.budget - len(self.archs))
        return self.strategy.ask(want)

    def check(self, asked: Sequence[Arch]) -> list[tuple[str | None, dict[str, float]]]:
        """Per asked arch: why it is infeasible (None: feasible) and what was measured."""
        if self.checker is None:
            return [(None, {}) for _ in asked]
        return [self.checker.check(a) for a in asked]

    def score(self, feasible: Sequence[Arch]) -> tuple[Iterator[dict[str, ScoreResult]], float]:
        """The leaf results of the feasible archs (in order) and the mean seconds per arch."""
        def done(i: int) -> None:
            self.untold += 1

        t0 = time.perf_counter()
        scored = iter(self.service.score(feasible, on_scored=done)) if feasible else iter(())
        return scored, (time.perf_counter() - t0) / max(1, len(feasible))

    def values(self) -> np.ndarray:
        """The fitness proxy's raw scores over everything evaluated (NaN for failures)."""
        return population_fitness(self.fit, self.rows) if self.rows else np.array([])

    def tell_infeasible(self, arch: Arch, why: str, measured: Mapping[str, float]) -> None:
        top = _top(self.archs, self.values(), self.fit, self.top_k)
        self.n_infeasible += 1
        self._streak += 1
        self.strategy.tell(arch, -math.inf, Evaluation(arch, -math.inf, None, self.fit,
                                                       infeasible=why, measured=measured))
        self._emit(arch, -math.inf, INFEASIBLE, False, 0.0, top, note="",
                   detail=why + ("; " + self._progress() if self._progress else ""),
                   step=len(self.archs))

    def tell_scored(self, arch: Arch, res: dict[str, ScoreResult],
                    measured: Mapping[str, float], seconds: float) -> None:
        self._streak = 0
        self.untold = max(0, self.untold - 1)
        self.archs.append(arch)
        self.rows.append(res)
        cached = all(r.cached for r in res.values())
        failed = any(not r.ok for r in res.values())
        self.n_cached += cached
        self.n_failed += failed
        values = self.values()
        raw = values[-1]
        fitness = self.fit.oriented(float(raw)) if np.isfinite(raw) else -math.inf
        self.strategy.tell(arch, fitness, Evaluation(arch, fitness, finite_or_none(raw),
                                                     self.fit, res, measured=measured))
        top = _top(self.archs, values, self.fit, self.top_k)
        status = "ok" if not failed else next(r.status for r in res.values() if not r.ok)
        self.record(arch, fitness, status, cached)
        errors = [f"{k}: {r.error}" for k, r in res.items() if not r.ok]
        self._emit(arch, fitness, status, cached, 0.0 if cached else seconds, top,
                   note="; ".join(errors),
                   detail=self._progress() if self._progress else "",
                   step=len(self.archs) - 1)

    def record(self, arch: Arch, fitness: float, status: str, cached: bool) -> None:
        """Record an evaluation in the run's store (numbered in tell order)."""
        if self.store is not None:
            self.store.run_record(self.run_id, len(self.archs) - 1, arch.text,
                                  {"fitness": finite_or_none(fitness), "status": status,
                                   "cached": cached})

    def _emit(self, arch: Arch, fitness: float, status: str, cached: bool, seconds: float,
              top: list[tuple[str, float]], *, note: str, detail: str, step: int) -> None:
        self.emit(Evaluated(
            step=step, arch=arch.text, fitness=fitness, status=status, cached=cached,
            seconds=seconds, n_evaluated=len(self.archs), n_cached=self.n_cached,
            n_failed=self.n_failed, best_arch=top[0][0] if top else None,
            best_fitness=top[0][1] if top else -math.inf, top=tuple(top), note=note,
            n_infeasible=self.n_infeasible, detail=detail,
        ))

    # -- the loop ------------------------------------------------------------------------------
    def step(self) -> bool:
        """One ask and the evaluation of everything asked; False when the strategy is done."""
        asked = self.ask()
        if not asked:
            return False
        reasons = self.check(asked)
        feasible = [a for a, (why, _) in zip(asked, reasons) if why is None]
        self._inflight = [(a, m) for a, (why, m) in zip(asked, reasons) if why is None]
        if self.time_budget is None:
            slices = [feasible]
        else:  # check the clock before each slice of the executor's width (module docstring)
            width = max(1, int(getattr(self.service.executor, "parallelism", 1) or 1))
            slices = [feasible[i:i + width] for i in range(0, len(feasible), width)]
        scored: Iterator[dict[str, ScoreResult]] = iter(())
        per, left = 0.0, 0
        for a, (why, measured) in zip(asked, reasons):
            if why is not None:
                self.tell_infeasible(a, why, measured)
                continue
            if left == 0:
                if self.time_budget is not None and self._out_of_time():
                    break  # the rest of the ask is not started; run() stops on "time"
                chunk = slices.pop(0)
                scored, per = self.score(chunk)
                left = len(chunk)
            self.tell_scored(a, next(scored), measured, per)
            self._inflight.pop(0)
            left -= 1
        self._inflight = []
        return True

    def _tell_stored_prefix(self) -> None:
        """After an interrupt: tell the architectures of the cut ask whose scores were all
        stored, in ask order, up to the first that was not (so the partial result counts
        every evaluation a resumed run will read back)."""
        for a, measured in self._inflight:
            res = self.service.stored(a)
            if res is None:
                break
            self.tell_scored(a, res, measured, 0.0)
        self._inflight = []

    def run(self) -> str:
        """Run steps until a stop; returns (and sets) ``stopped_by``."""
        try:
            while True:
                reason = self._stop()
                if reason is not None:
                    self.stopped_by = reason
                    break
                if not self.step():
                    self.stopped_by = "exhausted"
                    break
        except KeyboardInterrupt:
            # every score computed so far is already in the store; report the best of them
            self.interrupted = True
            self.stopped_by = "interrupted"
            n = min(len(self.archs), len(self.rows))  # an evaluation cut in the middle
            del self.archs[n:], self.rows[n:]
            if self._inflight and self._inflight[0][0] in self.archs[n - 1:n]:
                self._inflight.pop(0)  # told, though the tell was cut after recording
            self._tell_stored_prefix()
        return self.stopped_by

    def best(self, supernets: bool) -> tuple[Arch | None, float | None, list[tuple[str, float]]]:
        """The answer (the strategy's own, else the best fitness), its raw score, the top list.
        ``supernets``: the strategy scores supernets, so without its own answer there is
        none."""
        values = self.values()
        top = _top(self.archs, values, self.fit, self.top_k)
        own = self.strategy.result()
        if own is not None:
            raw = next((float(values[i]) for i in range(len(self.archs) - 1, -1, -1)
                        if self.archs[i] == own and np.isfinite(values[i])), None)
            return own, raw, top
        if supernets or not top:  # a supernet strategy stopped before it converged
            return None, None, top
        return next(a for a in self.archs if a.text == top[0][0]), top[0][1], top


def _check_objectives(objectives: Sequence[str] | str) -> tuple[str, ...]:
    """The costs of a Pareto front: ``params``, ``flops`` and/or ``latency``."""
    if isinstance(objectives, str):
        objectives = [o.strip() for o in objectives.split(",") if o.strip()]
    out = tuple(objectives)
    bad = [o for o in out if o not in PARETO_COSTS]
    if bad or len(set(out)) != len(out):
        raise ConfigError(f"Pareto objectives must be distinct names among "
                          f"{', '.join(PARETO_COSTS)}; got {', '.join(out)}")
    return out


def run_search(
    session: Session,
    space: str | Any = "nasbench201",
    proxy: str | ProxySpec = "gradalign-i",
    strategy: str | Any = "random",
    budget: int | None = None,
    *,
    time_budget: float | None = None,
    max_params: float | str | None = None,
    max_flops: float | str | None = None,
    max_latency_ms: float | str | None = None,
    space_opts: Mapping[str, Any] | None = None,
    strategy_opts: Mapping[str, Any] | None = None,
    top_k: int = 10,
    run: str | None = None,
    pareto: Sequence[str] = (),
) -> SearchResult:
    """Set a search up in ``session`` and run its :class:`SearchLoop` (the implementation of
    :func:`nasx.search`; see :func:`nasx.api.search` for the arguments)."""
    t_start = time.perf_counter()
    check_budgets(budget, time_budget)
    seed = session.settings.seed
    emit = session.settings.emit
    space_obj, spec, leaves = session.open(space, proxy, space_opts)
    if len(spec) != 1:
        raise ConfigError("search uses one fitness proxy; combine several with a population "
                          "proxy (e.g. an ensemble) or use `nasx eval` to compare them")
    fit = spec[0]
    limits = Constraints.of(max_params, max_flops, max_latency_ms)
    objectives = _check_objectives(pareto)
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
        raise ConfigError(f"strategy {strat_name!r} scores supernets; --max-params/--max-flops/"
                          "--max-latency-ms constraints apply to single architectures only")
    if objectives and build_space is not space_obj:
        raise ConfigError(f"strategy {strat_name!r} scores supernets; a Pareto front needs "
                          "single architectures")
    batch = session.batch(space_obj, leaves)
    service = session.service(space_obj, leaves, batch, build_space=build_space)
    st = session.store
    checker = (ConstraintChecker(space_obj, limits, batch.num_classes, store=st,
                                 device=service.device) if limits.active else None)
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

    loop = SearchLoop(strat, fit, service, checker=checker, store=st, run_id=run_id,
                      budget=budget, time_budget=time_budget, top_k=top_k, on_event=emit,
                      t_start=t_start)
    loop.run()
    best, best_raw, top = loop.best(supernets=build_space is not space_obj)
    front = None
    if objectives and not loop.interrupted:
        fitness = [fit.oriented(float(v)) if np.isfinite(v) else -math.inf
                   for v in loop.values()]
        front = tuple(p.to_dict() for p in search_front(
            space_obj, loop.archs, fitness, objectives, num_classes=batch.num_classes,
            store=st, device=service.device))
    result = SearchResult(
        best=best,
        score=best_raw,
        proxy=fit.name,
        space=space_obj.name,
        strategy=settings["strategy"],
        seed=seed,
        evaluated=len(loop.archs),
        cached=loop.n_cached,
        failed=loop.n_failed,
        seconds=time.perf_counter() - t_start,
        data_fingerprint=batch.fingerprint,
        top=tuple(top),
        run_id=run_id,
        resumed=min(resumed, len(loop.archs)),
        settings=settings,
        stopped_by=loop.stopped_by,
        infeasible=loop.n_infeasible,
        pareto=front,
    )
    if loop.interrupted:
        raise SearchInterrupted(result, loop.untold)
    if st is not None:
        st.run_finish(run_id, result.to_dict())
    emit(RunFinished(result.to_dict()))
    return result
