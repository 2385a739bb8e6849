"""Cache-aware scoring: :class:`ScoreService` and the ``score`` run behind ``nasx.score()``.

The service looks every (architecture, proxy) up in the store, sends only the missing ones to
the executor, and stores each new score as soon as it exists; a search, a score run and an
evaluation all score through it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .arch import Arch
from .data import ProbeBatch
from .errors import ConfigError
from .events import Progress
from .executors import Executor, ScoringJob, SequentialExecutor, get_executor
from .population import population_fitness
from .proxies.base import ProxySpec
from .records import OK, OOM, ScoreKey, ScoreResult, finite_or_none, opts_key
from .scoring import (
    device_identity,
    key_options,
    resolve_device,
)
from .store import Store

if TYPE_CHECKING:
    from .engine.session import Session
    from .settings import RunSettings

__all__ = ["CLAIM_WAIT", "ScoreService", "run_score"]

#: seconds a score service waits for another process's claim on a score it needs before it
#: computes the score itself
CLAIM_WAIT = 900.0


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

    The scoring options (``device``, ``seed``, ``chunk_size``, ``grad_method``,
    ``keep_failures``) come from ``settings`` (a :class:`~nasx.settings.RunSettings`),
    or as its fields in ``options``, which replace the record's; ``store`` and ``executor`` are
    the opened objects the service uses (default: none and a sequential executor).

    Example:
        >>> svc = ScoreService(space, [spec], batch, device="cpu", seed=1)  # doctest: +SKIP
    """

    def __init__(
        self,
        space: Any,
        proxies: Sequence[ProxySpec],
        batch: ProbeBatch,
        settings: RunSettings | None = None,
        *,
        store: Store | None = None,
        executor: Executor | None = None,
        build_space: Any = None,
        scoring_opts: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        from .settings import RunSettings

        if settings is None:
            settings = RunSettings(**options)
        elif options:
            settings = settings.replace(**options)
        self.settings = settings
        self.space = space
        self.build_space = build_space or space
        self.proxies = list(proxies)
        self.batch = batch
        self.device = resolve_device(settings.device)
        self.seed = int(settings.seed)
        self.store = store
        self.chunk_size = settings.chunk_size
        self.keep_failures = settings.keep_failures
        self.scoring_opts = dict(scoring_opts or {})
        self.grad_method = settings.grad_method
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
        self._space_key = opts_key(space.opts)
        self._specs = {p.name: p for p in self.proxies}
        self._subjobs: dict[tuple[str, ...], ScoringJob] = {}
        self._device_name = device_identity(self.device)
        measured = [p.name for p in self.proxies if p.device_specific]
        if measured and not isinstance(self.executor, SequentialExecutor):
            raise ConfigError(
                f"proxy {measured[0]!r} measures this machine's device; score it with the "
                "sequential executor (--executor sequential): workers would measure other "
                "devices or thread counts, and compete for the cores")
        self._scoring = {
            p.name: json.dumps(key_options(p, chunk_size=self.chunk_size, device=self.device,
                                           **self.scoring_opts), sort_keys=True)
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
                                             device=self.device, **self.scoring_opts),
                                 sort_keys=True)
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

    def stored(self, arch: Arch) -> dict[str, ScoreResult] | None:
        """The stored results of every proxy for ``arch`` (as :meth:`score` would serve them,
        marked ``cached``), or None when any is missing."""
        have: dict[str, ScoreResult] = {}
        self._missing(arch, have)
        return have if len(have) == len(self.proxies) else None

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
                    keys = self._claim(archs[i], out[i], todo) if todo else []
                    todo = tuple(n for n in names if n not in out[i])
                    if todo:
                        try:
                            self._compute(todo, [i], archs, out, on_scored)
                        finally:  # stored scores ended their claims; end the rest
                            if keys:
                                self.store.release(keys)
                    elif on_scored is not None:
                        on_scored(i)
            else:
                self._compute(names, idx, archs, out, on_scored)
        return out

    def _claim(self, arch: Arch, have: dict[str, ScoreResult], names: tuple[str, ...]
               ) -> list[ScoreKey]:
        """Claim the store keys of ``arch``'s missing proxies before computing them. While
        another process holds a claim on one (it is computing that score), wait for the score
        and read it into ``have``; returns the keys claimed (none without a store, or when
        everything arrived meanwhile)."""
        if self.store is None:
            return []
        wait, give_up = 0.05, time.monotonic() + CLAIM_WAIT
        while True:
            todo = [n for n in names if n not in have]
            if not todo:
                return []
            keys = [self.key(arch, self._specs[n]) for n in todo]
            if self.store.claim(keys):
                return keys
            if time.monotonic() > give_up:  # computing it twice is never wrong, only slower
                return []
            time.sleep(wait)
            wait = min(1.0, wait * 2)
            self._missing(arch, have)

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


def run_score(
    session: Session,
    archs: str | Arch | Iterable[str | Arch],
    space: str | Any = "nasbench201",
    proxy: str | Sequence[str] = "gradalign-i",
    *,
    space_opts: Mapping[str, Any] | None = None,
) -> list[ScoreResult] | ScoreResult:
    """Score architectures (strings in the space's notation, or Arch values) with proxies in
    ``session`` (the implementation of :func:`nasx.score`; see :func:`nasx.api.score` for the
    arguments).

    Returns one :class:`ScoreResult` for one arch and one proxy, else a flat list ordered by
    arch, then proxy. Population proxies are combined over the given architectures.
    """
    single = isinstance(archs, (str, Arch))
    items = [archs] if single else list(archs)  # type: ignore[list-item]
    space_obj = session.space(space, space_opts)
    parsed = [space_obj.check(a) if isinstance(a, Arch) else space_obj.parse(a) for a in items]
    _, specs, leaves = session.open(space_obj, proxy)
    on_event = session.settings.on_event
    done = [0]

    def scored(i: int) -> None:
        done[0] += 1
        if on_event:
            on_event(Progress(done[0], len(parsed), "score", parsed[i].text))

    rows = session.service(space_obj, leaves).score(parsed, on_scored=scored)
    out: list[ScoreResult] = []
    pop_values = {s.name: population_fitness(s, rows) for s in specs if s.population}
    for i, a in enumerate(parsed):
        for s in specs:
            if s.population:
                v = finite_or_none(pop_values[s.name][i])
                ok = v is not None
                out.append(ScoreResult(a.text, s.name, v,
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




def __getattr__(name: str) -> Any:
    # ``nasx.service.score`` was the implementation of :func:`nasx.score` with its keyword
    # signature: it is now :func:`nasx.score` itself (imported on first use, as nasx.api does)
    if name == "score":
        import importlib
        import warnings

        warnings.warn("nasx.service.score is deprecated; use nasx.score (or run_score with a "
                      "Session)", DeprecationWarning, stacklevel=2)
        return importlib.import_module("nasx.api").score
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
