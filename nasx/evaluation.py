"""How well does a proxy rank architectures? Rank correlation against ground truth.

:func:`evaluate` samples architectures from a ground-truth CSV (an arch column in the space's
notation and an accuracy column), scores them with one or more proxies on one probe batch, and
reports per proxy the metrics of :func:`rank_metrics`. All proxies are scored on one architecture
together, from the same initial weights and with one shared ``ctx.cache``, so proxies that need
the same intermediate result (GradAlign-I and -II: the per-sample gradients) compute it once.
Population proxies (TE-NAS) are combined over the evaluated sample.

Metric definitions (n = number of sampled architectures; the *oriented* score is the raw score,
negated when the proxy declares ``higher_is_better=False``):

* ``kendall``: Kendall tau-b (``scipy.stats.kendalltau``, tie-corrected) between oriented score
  and accuracy, over all n architectures; failed scores (exceptions, NaN/inf) rank last, tied
  with each other (so a proxy is not rewarded for failing on hard cases).
* ``spearman``: Spearman rho over the same ranking. ``pearson``: Pearson r between the oriented
  score and the accuracy over the successful architectures only (failures have no value).
* ``precision_top{k}`` (k = 1, 5, 10): with ``m = max(1, floor(n k / 100 + 1/2))``, the share of
  the proxy's m best architectures whose accuracy is at least the m-th best accuracy of the
  sample (ties in accuracy at that threshold count as inside; ties in score at the proxy's
  boundary are broken by sample order).
* ``top1_acc``: the accuracy of the architecture the proxy ranks first (ties in score: the first
  in sample order; ``top1_ties`` says how many shared the best score); ``top1_rank``: its rank by
  accuracy among the sampled (1 = the best; ties count in its favour); ``best_acc``: the best
  accuracy in the sample. All failed: these are NaN.
* ``failed``: architectures whose score failed (summed over initialisation seeds); ``errors``: up
  to three distinct error messages; ``seconds``: mean scoring time per architecture (for the
  first proxy of an architecture it includes building the network; a proxy that reuses a shared
  result is correspondingly cheap).

With ``init_seeds=K`` everything is repeated with K weight initialisations (seeds ``seed`` ..
``seed+K-1``) on the same sample and probe batch, and each metric is reported as the mean over
seeds with its sample standard deviation (``<metric>_std``, ddof=1).
"""

from __future__ import annotations

import csv
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from .arch import Arch
from .context import DEFAULT_SAMPLE
from .errors import ConfigError, DataError, InvalidArchError
from .events import Progress
from .population import leaf_proxies, population_fitness
from .proxies.base import ProxySpec
from .records import finite_or_none, json_clean
from .registry import make_space

if TYPE_CHECKING:
    from .engine.session import Session

__all__ = ["DEFAULT_SAMPLE", "TOPK_PERCENTS", "EvalReport", "TruthReport", "run_evaluation",
           "load_truth", "mean_by_arch", "rank_metrics", "read_truth", "truth_report"]

TOPK_PERCENTS = (1, 5, 10)

#: metrics that are not averaged over initialisation seeds
_COUNT_KEYS = ("n", "failed")


def read_truth(
    path: str | os.PathLike[str], space: Any, arch_col: str = "arch", acc_col: str = "accuracy"
) -> list[tuple[Arch, float]]:
    """Read (arch, accuracy) pairs from a CSV; arch strings are parsed by ``space``.

    Rows with an empty accuracy are skipped; a non-numeric or non-finite accuracy, an arch that
    does not parse, or a missing column is an error naming the file and line.

    Example:
        >>> pairs = read_truth("accuracies.csv", space, acc_col="cifar10_test")  # doctest: +SKIP
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"ground-truth file {str(path)!r} not found")
    try:
        return _read_truth_rows(p, space, arch_col, acc_col)
    except UnicodeDecodeError as exc:
        raise DataError(f"{p.name} is not a UTF-8 text CSV ({exc.reason} at byte "
                        f"{exc.start}); save it as UTF-8") from None
    except csv.Error as exc:
        raise DataError(f"{p.name} is not a readable CSV: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read ground-truth file {p}: {exc}") from None


def _read_truth_rows(p: Path, space: Any, arch_col: str,
                     acc_col: str) -> list[tuple[Arch, float]]:
    out: list[tuple[Arch, float]] = []
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        for col in (arch_col, acc_col):
            if col not in cols:
                raise ConfigError(f"{p.name}: no column {col!r}; columns are {cols}")
        for lineno, row in enumerate(reader, start=2):
            text, acc = row[arch_col], row[acc_col]
            if text is None:
                raise DataError(f"{p.name} line {lineno}: no value in column {arch_col!r}")
            if acc is None or acc.strip() == "":
                continue
            try:
                value = float(acc)
            except ValueError:
                raise DataError(f"{p.name} line {lineno}: accuracy {acc!r} is not a number") \
                    from None
            if not math.isfinite(value):
                raise DataError(f"{p.name} line {lineno}: accuracy {acc!r} is not finite")
            try:
                arch = space.parse(text)
            except InvalidArchError as exc:
                raise InvalidArchError(f"{p.name} line {lineno}: {exc}") from None
            out.append((arch, value))
    if not out:
        raise DataError(f"{p.name}: no rows with an accuracy in column {acc_col!r}")
    return out


def mean_by_arch(pairs: Sequence[tuple[Arch, float]]) -> dict[Arch, float]:
    """One entry per architecture (equal canonical keys collapse), its mean accuracy; in the
    order of first appearance. Architectures given more than once with different accuracies
    are averaged with one ``UserWarning`` that counts them and names the first; identical
    duplicates are silent."""
    merged: dict[Arch, list[float]] = {}
    for a, acc in pairs:
        merged.setdefault(a, []).append(acc)
    conflicts = [(a, v) for a, v in merged.items() if min(v) != max(v)]
    if conflicts:
        a, v = conflicts[0]
        shown = a.text if len(a.text) <= 120 else a.text[:120] + "..."
        warnings.warn(
            f"ground truth: {len(conflicts)} architecture(s) appear more than once with "
            f"different accuracies (e.g. {shown}: {', '.join(f'{x:g}' for x in v[:5])}); "
            "their mean is used", UserWarning, stacklevel=3)
    return {a: float(np.mean(v)) for a, v in merged.items()}


def _topk_size(n: int, k: float) -> int:
    return max(1, math.floor(n * k / 100.0 + 0.5))


def rank_metrics(values: Sequence[float | None], acc: Sequence[float],
                 higher_is_better: bool = True) -> dict[str, Any]:
    """Rank-correlation metrics of raw proxy ``values`` against ``acc`` (module docstring).

    Args:
        values: raw scores, one per architecture; None, NaN or inf mark a failed score.
        acc: ground-truth accuracies (finite), same order.
        higher_is_better: the proxy's orientation.

    Example:
        >>> m = rank_metrics([3.0, 1.0, 2.0], [90.0, 80.0, 85.0])
        >>> m["kendall"], m["top1_acc"], m["top1_rank"]
        (1.0, 90.0, 1)
    """
    v = np.array([np.nan if x is None else x for x in values], dtype=np.float64)
    a = np.asarray(acc, dtype=np.float64)
    if v.shape != a.shape or v.ndim != 1:
        raise ConfigError(f"values and accuracies differ in shape: {v.shape} vs {a.shape}")
    if not np.all(np.isfinite(a)):
        raise DataError("accuracies must be finite")
    n = len(v)
    ok = np.isfinite(v)
    o = np.where(ok, v if higher_is_better else -v, np.nan)
    if ok.any():
        low = float(np.nanmin(o))
        span = (float(np.nanmax(o)) - low) or 1.0
        o = np.where(ok, o, low - span)  # failures rank last, tied with each other
    else:
        o = np.zeros(n)
    out: dict[str, Any] = {"n": int(n), "failed": int((~ok).sum())}
    if n >= 2 and np.ptp(o) > 0 and np.ptp(a) > 0:
        out["kendall"] = float(stats.kendalltau(o, a).statistic)
        out["spearman"] = float(stats.spearmanr(o, a).statistic)
    else:
        out["kendall"] = out["spearman"] = float("nan")
    if ok.sum() >= 3 and np.ptp(v[ok]) > 0 and np.ptp(a[ok]) > 0:
        sign = 1.0 if higher_is_better else -1.0
        out["pearson"] = float(stats.pearsonr(sign * v[ok], a[ok]).statistic)
    else:
        out["pearson"] = float("nan")
    order = np.lexsort((np.arange(n), -o))  # best first, ties by sample position
    acc_desc = np.sort(a)[::-1]
    for k in TOPK_PERCENTS:
        if not ok.any() or n == 0:
            out[f"precision_top{k}"] = float("nan")
            continue
        m = _topk_size(n, k)
        threshold = acc_desc[m - 1]
        out[f"precision_top{k}"] = float(np.mean(a[order[:m]] >= threshold))
    if n and ok.any():
        best = int(order[0])
        out["top1_acc"] = float(a[best])
        out["top1_rank"] = int(1 + np.sum(a > a[best]))
        out["top1_ties"] = int(np.sum(o == o[best]))
    else:
        out["top1_acc"] = out["top1_rank"] = float("nan")
        out["top1_ties"] = 0
    out["best_acc"] = float(a.max()) if n else float("nan")
    return out


@dataclass(frozen=True)
class EvalReport:
    """Per-proxy metrics (``metrics[proxy]``), the rows scored, and the settings used.

    Attributes:
        metrics: per proxy, the metrics of :func:`rank_metrics` (mean and ``*_std`` over
            initialisation seeds when there are several) plus ``higher_is_better``,
            ``seconds`` and ``errors``.
        rows: every ``(arch, proxy, score, accuracy, init_seed)``; score None = failed.
        settings: what was evaluated and how (space, truth file and column, sample, seeds,
            probe-data fingerprint, device, ...).
        per_seed: per proxy, the metrics of each initialisation seed.
    """

    metrics: Mapping[str, Mapping[str, Any]]
    rows: tuple[tuple[str, str, float | None, float, int], ...]  # arch, proxy, score, acc, seed
    settings: Mapping[str, Any] = field(default_factory=dict)
    per_seed: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{proxy: metrics, ..., "settings": settings}`` (NaN -> None); with
        several initialisation seeds each proxy also carries ``per_seed``."""
        out: dict[str, Any] = {}
        for p, m in self.metrics.items():
            d = dict(m)
            if len(self.per_seed.get(p, ())) > 1:
                d["per_seed"] = [dict(s) for s in self.per_seed[p]]
            out[p] = json_clean(d)
        out["settings"] = json_clean(dict(self.settings))
        return out

    def scores(self, proxy: str, init_seed: int | None = None
               ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(archs, raw scores (NaN = failed), accuracies)`` of ``proxy`` for one
        initialisation seed (default: the first)."""
        if proxy not in self.metrics:
            raise ConfigError(f"no proxy {proxy!r} in this report; it has {list(self.metrics)}")
        seeds = [r[4] for r in self.rows if r[1] == proxy]
        want = seeds[0] if init_seed is None and seeds else init_seed
        sel = [r for r in self.rows if r[1] == proxy and r[4] == want]
        archs = [r[0] for r in sel]
        vals = np.array([np.nan if r[2] is None else r[2] for r in sel], dtype=np.float64)
        accs = np.array([r[3] for r in sel], dtype=np.float64)
        return archs, vals, accs

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """Every ``arch, proxy, score, accuracy, init_seed`` row (empty score = failed)."""
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["arch", "proxy", "score", "accuracy", "init_seed"])
            for arch, proxy, score, acc, seed in self.rows:
                w.writerow([arch, proxy, "" if score is None else repr(score), repr(acc), seed])


def _aggregate(per_seed: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and sample std over seeds (counts: ``n`` per seed, ``failed`` summed)."""
    if len(per_seed) == 1:
        return dict(per_seed[0])
    out: dict[str, Any] = {}
    for k in per_seed[0]:
        vals = [d.get(k, float("nan")) for d in per_seed]
        if k == "n":
            out[k] = int(vals[0])
            continue
        if k == "failed":
            out[k] = int(sum(vals))
            continue
        arr = np.asarray(vals, dtype=np.float64)
        fin = arr[np.isfinite(arr)]
        out[k] = float(fin.mean()) if len(fin) else float("nan")
        out[k + "_std"] = float(fin.std(ddof=1)) if len(fin) > 1 else float("nan")
    out["init_seeds"] = len(per_seed)
    return out


def run_evaluation(
    session: Session,
    space: str | Any,
    proxy: str | ProxySpec | Sequence[str | ProxySpec],
    truth: str | os.PathLike[str] | Sequence[tuple[Any, float]],
    *,
    arch_col: str = "arch",
    acc_col: str = "accuracy",
    sample: int | None = DEFAULT_SAMPLE,
    init_seeds: int = 1,
    space_opts: Mapping[str, Any] | None = None,
) -> EvalReport:
    """Score a sample of ground-truth architectures in ``session`` and report rank metrics per
    proxy (the implementation of :func:`nasx.evaluate`; see :func:`nasx.api.evaluate` for the
    arguments).
    """
    t_start = time.perf_counter()
    seed, on_event = session.settings.seed, session.settings.on_event
    if not isinstance(init_seeds, int) or init_seeds < 1:
        raise ConfigError(f"init_seeds must be an integer >= 1; got {init_seeds!r}")
    space_obj, specs, leaves = session.open(space, proxy, space_opts)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"proxy listed twice: {names}")
    merged = load_truth(truth, space_obj, arch_col, acc_col)
    truth_name = str(truth) if isinstance(truth, (str, os.PathLike)) else "(in memory)"
    archs = list(merged)
    accs = np.array([merged[a] for a in archs])
    n_truth = len(archs)
    if sample is not None:
        if sample < 2:
            raise ConfigError(f"sample must be at least 2; got {sample}")
        if sample < len(archs):
            rng = np.random.default_rng(seed)
            idx = np.sort(rng.choice(len(archs), size=sample, replace=False))
            archs = [archs[i] for i in idx]
            accs = accs[idx]
    if len(archs) < 2:
        raise DataError(f"{truth_name}: at least two architectures are needed; got {len(archs)}")
    batch = session.batch(space_obj, leaves)
    per_seed: dict[str, list[dict[str, Any]]] = {s.name: [] for s in specs}
    seconds: dict[str, list[float]] = {s.name: [] for s in specs}
    errors: dict[str, list[str]] = {s.name: [] for s in specs}
    rows: list[tuple[str, str, float | None, float, int]] = []
    total = len(archs) * init_seeds
    done = n_cached = 0
    ex_kind = ""
    for k in range(init_seeds):
        init_seed = seed + k
        service = session.service(space_obj, leaves, batch, seed=init_seed)
        ex_kind = service.device_kind

        def scored(i: int) -> None:
            nonlocal done
            done += 1
            if on_event:
                on_event(Progress(done, total, "eval", archs[i].text))

        results = service.score(archs, on_scored=scored)
        n_cached += sum(r.cached for res in results for r in res.values())
        for s in specs:
            comps = [leaf.name for leaf in leaf_proxies([s])]
            vals = population_fitness(s, results)
            per_seed[s.name].append(rank_metrics(vals, accs, s.higher_is_better))
            for res in results:
                seconds[s.name].append(sum(res[c].seconds for c in comps))
                for c in comps:
                    if res[c].ok:
                        continue
                    msg = res[c].error or res[c].status
                    msg = msg if c == s.name else f"{c}: {msg}"
                    if msg not in errors[s.name]:
                        errors[s.name].append(msg)
            for a, v, acc in zip(archs, vals, accs):
                rows.append((a.text, s.name, finite_or_none(v), float(acc), init_seed))
    metrics: dict[str, dict[str, Any]] = {}
    for s in specs:
        m = _aggregate(per_seed[s.name])
        m["higher_is_better"] = s.higher_is_better
        m["seconds"] = float(np.mean(seconds[s.name])) if seconds[s.name] else float("nan")
        m["errors"] = errors[s.name][:3]
        metrics[s.name] = m
    settings = {
        "space": space_obj.name,
        "space_opts": dict(space_obj.opts),
        "proxies": [s.cache_id for s in specs],
        "truth": truth_name,
        "arch_col": arch_col,
        "acc_col": acc_col,
        "truth_archs": n_truth,
        "sample": len(archs),
        "seed": seed,
        "init_seeds": init_seeds,
        "batch_size": len(batch),
        "data": batch.source,
        "data_fingerprint": batch.fingerprint,
        "data_seed": session.settings.probe_seed,
        "device": ex_kind,
        "cached": int(n_cached),
        "seconds": round(time.perf_counter() - t_start, 3),
    }
    return EvalReport(metrics, tuple(rows), settings,
                      {k: tuple(v) for k, v in per_seed.items()})


@dataclass(frozen=True)
class TruthReport:
    """The true accuracy of a search's result, from a ground-truth file of a benchmark space.

    Attributes:
        acc_col: the accuracy column read.
        truth: the file (or ``"(in memory)"``).
        n_truth: architectures in the file (equal canonical keys counted once, mean accuracy).
        optimum: the best accuracy in the file, and ``optimum_arch`` one architecture with it.
        best_acc: accuracy of the returned architecture (None when the file lacks it).
        best_rank: 1 + the number of architectures of the file that are strictly more accurate
            (1 = the space's optimum); None when the file lacks it.
        top: ``(arch, score, accuracy or None)`` for the search's top list, best first.
        top_best_acc: the best accuracy within the top list (what training the top-k would
            find); None when the file has none of them.
    """

    acc_col: str
    truth: str
    n_truth: int
    optimum: float
    optimum_arch: str
    best_acc: float | None
    best_rank: int | None
    top: tuple[tuple[str, float | None, float | None], ...]
    top_best_acc: float | None

    def to_dict(self) -> dict[str, Any]:
        return json_clean({
            "acc_col": self.acc_col, "truth": self.truth, "n_truth": self.n_truth,
            "optimum": self.optimum, "optimum_arch": self.optimum_arch,
            "best_acc": self.best_acc, "best_rank": self.best_rank,
            "top_best_acc": self.top_best_acc,
            "top": [{"arch": a, "score": s, "accuracy": acc} for a, s, acc in self.top],
        })


def load_truth(truth: str | os.PathLike[str] | Sequence[tuple[Any, float]], space: Any,
               arch_col: str = "arch", acc_col: str = "accuracy") -> dict[Arch, float]:
    """Ground truth as ``{arch: mean accuracy}`` from a CSV path or (arch, accuracy) pairs."""
    if isinstance(truth, (str, os.PathLike)):
        return mean_by_arch(read_truth(truth, space, arch_col, acc_col))
    pairs = []
    for a, acc in truth:
        arch = space.parse(a) if isinstance(a, str) else space.check(a)
        if not math.isfinite(float(acc)):
            raise DataError(f"accuracy of {arch} is not finite: {acc!r}")
        pairs.append((arch, float(acc)))
    return mean_by_arch(pairs)


def truth_report(result: Any, truth: str | os.PathLike[str] | Sequence[tuple[Any, float]]
                 | Mapping[Arch, float], *, space: Any = None, arch_col: str = "arch",
                 acc_col: str = "accuracy") -> TruthReport:
    """The true accuracy of ``result`` (a :class:`nasx.api.SearchResult`) and of its top list.

    ``truth`` is a CSV path, (arch, accuracy) pairs, or the ``{arch: accuracy}`` mapping of
    :func:`load_truth` (read once, reuse for many results). ``space`` (name or object) parses
    the architectures; default: the result's space with its options.

    Example:
        >>> r = nasx.search(space="nasbench201", proxy="gradalign-i", budget=100)
        ...  # doctest: +SKIP
        >>> truth_report(r, "accuracies.csv", acc_col="cifar10_test").best_acc
        ...  # doctest: +SKIP
    """
    if space is None or not hasattr(space, "parse"):  # a name, target or space function
        opts = dict((getattr(result, "settings", None) or {}).get("space_opts") or {})
        space = make_space(space or result.space, **opts)
    if isinstance(truth, Mapping):
        table = dict(truth)
        name = "(in memory)"
    else:
        table = load_truth(truth, space, arch_col, acc_col)
        name = str(truth) if isinstance(truth, (str, os.PathLike)) else "(in memory)"
    if not table:
        raise DataError("the ground truth is empty")
    accs = np.array(list(table.values()), dtype=np.float64)
    best_i = int(np.argmax(accs))

    def acc_of(text: str | None) -> float | None:
        if text is None:
            return None
        return table.get(space.parse(text))

    best_acc = acc_of(None if result.best is None else str(result.best))
    top = tuple((a, s, acc_of(a)) for a, s in result.top)
    known = [acc for _, _, acc in top if acc is not None]
    return TruthReport(
        acc_col=acc_col, truth=name, n_truth=len(table), optimum=float(accs[best_i]),
        optimum_arch=list(table)[best_i].text, best_acc=best_acc,
        best_rank=None if best_acc is None else int(1 + np.sum(accs > best_acc)),
        top=top, top_best_acc=max(known) if known else None,
    )


def __getattr__(name: str) -> Any:
    # ``nasx.evaluation.evaluate`` was the implementation of :func:`nasx.evaluate` with its
    # keyword signature: it is now :func:`nasx.evaluate` itself (imported on first use, as
    # nasx.api does)
    if name == "evaluate":
        import importlib
        import warnings

        warnings.warn("nasx.evaluation.evaluate is deprecated; use nasx.evaluate (or "
                      "run_evaluation with a Session)", DeprecationWarning, stacklevel=2)
        return importlib.import_module("nasx.api").evaluate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
