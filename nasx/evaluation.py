"""How well does a proxy rank architectures? Rank correlation against ground truth.

:func:`evaluate` samples architectures from a ground-truth CSV (an arch column in the space's
notation and an accuracy column), scores them with one or more proxies on one probe batch (proxies
scored together share work such as per-sample gradients), and reports per proxy:

* Kendall tau (tau-b) and Spearman rho between the oriented score and the accuracy, and Pearson r;
* precision of the top-k% (k = 1, 5, 10): the share of the proxy's top-k% that are in the true
  top-k%;
* the accuracy of the top-ranked architecture and its rank by accuracy among those sampled;
* the number of failures. Failed scores (exceptions, NaN/inf) rank last, tied; Pearson uses the
  successful ones only.

With ``init_seeds=K`` everything is repeated with K weight initialisations (seeds ``seed`` ..
``seed+K-1``) and each metric is reported as mean and standard deviation.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy import stats

from .arch import Arch
from .data import ProbeBatch, ProbeDataset
from .errors import ConfigError, DataError, InvalidArchError
from .events import Event, Progress
from .executors import Executor, get_executor
from .population import leaf_proxies, population_values
from .proxies.base import ProxySpec

__all__ = ["evaluate", "EvalReport", "rank_metrics", "read_truth", "TOPK_PERCENTS"]

TOPK_PERCENTS = (1, 5, 10)


def read_truth(
    path: str | os.PathLike[str], space: Any, arch_col: str = "arch", acc_col: str = "accuracy"
) -> list[tuple[Arch, float]]:
    """Read (arch, accuracy) pairs from a CSV; arch strings are parsed by ``space``."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"ground-truth file {str(path)!r} not found")
    out: list[tuple[Arch, float]] = []
    with open(p, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        for col in (arch_col, acc_col):
            if col not in cols:
                raise ConfigError(f"{p.name}: no column {col!r}; columns are {cols}")
        for lineno, row in enumerate(reader, start=2):
            text, acc = row[arch_col], row[acc_col]
            if acc is None or acc.strip() == "":
                continue
            try:
                arch = space.parse(text)
            except InvalidArchError as exc:
                raise InvalidArchError(f"{p.name} line {lineno}: {exc}") from None
            try:
                out.append((arch, float(acc)))
            except ValueError:
                raise DataError(f"{p.name} line {lineno}: accuracy {acc!r} is not a number")
    if not out:
        raise DataError(f"{p.name}: no rows with an accuracy in column {acc_col!r}")
    return out


def rank_metrics(values: Sequence[float], acc: Sequence[float],
                 higher_is_better: bool = True) -> dict[str, Any]:
    """Rank-correlation metrics of raw proxy ``values`` (NaN = failed) against ``acc``."""
    v = np.asarray(values, dtype=np.float64)
    a = np.asarray(acc, dtype=np.float64)
    n = len(v)
    ok = np.isfinite(v)
    o = np.where(ok, v if higher_is_better else -v, np.nan)
    if ok.any():
        low = np.nanmin(o)
        span = (np.nanmax(o) - low) or 1.0
        o = np.where(ok, o, low - span)  # failures rank last, tied
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
    order = np.lexsort((np.arange(n), -o))  # best first, ties by position
    true_order = np.argsort(-a, kind="stable")
    for k in TOPK_PERCENTS:
        m = max(1, int(round(n * k / 100)))
        out[f"precision_top{k}"] = float(len(set(order[:m]) & set(true_order[:m])) / m)
    if n:
        best = int(order[0])
        out["top1_acc"] = float(a[best])
        out["top1_rank"] = int(1 + np.sum(a > a[best]))
        out["best_acc"] = float(a.max())
    return out


@dataclass(frozen=True)
class EvalReport:
    """Per-proxy metrics (``metrics[proxy]``), the rows scored, and the settings used."""

    metrics: Mapping[str, Mapping[str, Any]]
    rows: tuple[tuple[str, str, float | None, float, int], ...]  # arch, proxy, score, acc, seed
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def clean(x: Any) -> Any:
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            return x

        return {**{p: clean(dict(m)) for p, m in self.metrics.items()},
                "settings": clean(dict(self.settings))}

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["arch", "proxy", "score", "accuracy", "init_seed"])
            for arch, proxy, score, acc, seed in self.rows:
                w.writerow([arch, proxy, "" if score is None else repr(score), acc, seed])


def _aggregate(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    if len(per_seed) == 1:
        return dict(per_seed[0])
    out: dict[str, Any] = {}
    for k in per_seed[0]:
        vals = [d[k] for d in per_seed if k in d]
        arr = np.asarray(vals, dtype=np.float64)
        if k in ("n",):
            out[k] = int(arr[0])
        elif k == "failed":
            out[k] = int(arr.sum())
        else:
            out[k] = float(np.nanmean(arr)) if np.isfinite(arr).any() else float("nan")
            out[k + "_std"] = float(np.nanstd(arr)) if np.isfinite(arr).any() else float("nan")
    out["init_seeds"] = len(per_seed)
    return out


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
    data: str | ProbeDataset | ProbeBatch = "cifar10",
    batch_size: int = 128,
    data_seed: int | None = None,
    device: str = "auto",
    store: Any = None,
    space_opts: Mapping[str, Any] | None = None,
    executor: str | Executor | None = None,
    chunk_size: int | None = None,
    download: bool = False,
    on_event: Callable[[Event], None] | None = None,
) -> EvalReport:
    """Score a sample of ground-truth architectures and report rank metrics per proxy.

    Args:
        space: registered space (or object).
        proxy: one or more proxies (``"a,b"`` or a list); population proxies are combined over
            the sample.
        truth: a CSV path, or a sequence of (arch or arch string, accuracy).
        arch_col / acc_col: CSV column names.
        sample: number of architectures sampled without replacement (seeded); None = all.
        seed: seed of the sample and of the first weight initialisation.
        init_seeds: repeat with this many initialisation seeds; metrics get mean and std.
        data, batch_size, data_seed, device, store, executor, chunk_size: as in
            :func:`nasx.search` (store defaults to the user store; False disables it).

    Example:
        >>> rep = nasx.evaluate("nasbench201", "gradalign-i", "accuracies.csv",
        ...                     acc_col="cifar10_test", sample=300, data="probe.npz")
        ...  # doctest: +SKIP
        >>> rep.metrics["gradalign-i"]["kendall"]  # doctest: +SKIP
    """
    from .api import ScoreService, _resolve_store, make_batch, make_space, parse_proxies

    if init_seeds < 1:
        raise ConfigError(f"init_seeds must be >= 1; got {init_seeds}")
    space_obj = make_space(space, **dict(space_opts or {}))
    specs = parse_proxies(proxy)
    leaves = leaf_proxies(specs)
    if isinstance(truth, (str, os.PathLike)):
        pairs = read_truth(truth, space_obj, arch_col, acc_col)
        truth_name = str(truth)
    else:
        pairs = [(space_obj.parse(a) if isinstance(a, str) else space_obj.check(a), float(acc))
                 for a, acc in truth]
        truth_name = "(in memory)"
    # one entry per architecture (isomorphic duplicates collapse): mean accuracy
    merged: dict[Arch, list[float]] = {}
    for a, acc in pairs:
        merged.setdefault(a, []).append(acc)
    archs = list(merged)
    accs = np.array([float(np.mean(merged[a])) for a in archs])
    rng = np.random.default_rng(seed)
    if sample is not None:
        if sample < 2:
            raise ConfigError(f"sample must be at least 2; got {sample}")
        if sample < len(archs):
            idx = np.sort(rng.choice(len(archs), size=sample, replace=False))
            archs = [archs[i] for i in idx]
            accs = accs[idx]
    batch = make_batch(data, space_obj, batch_size=batch_size,
                       seed=seed if data_seed is None else data_seed, download=download)
    st = _resolve_store(store)
    ex = get_executor(executor, device=device)
    per_seed: dict[str, list[dict[str, Any]]] = {s.name: [] for s in specs}
    rows: list[tuple[str, str, float | None, float, int]] = []
    total = len(archs) * init_seeds
    done = 0
    try:
        for k in range(init_seeds):
            init_seed = seed + k
            service = ScoreService(space_obj, leaves, batch, device=device, seed=init_seed,
                                   store=st, executor=ex, chunk_size=chunk_size)
            results = []
            step = max(1, ex.parallelism)
            for i in range(0, len(archs), step):
                chunk = archs[i:i + step]
                results.extend(service.score(chunk))
                done += len(chunk)
                if on_event:
                    on_event(Progress(done, total, "eval", chunk[-1].text))
            leaf_values = {
                leaf.name: [r[leaf.name].value if r[leaf.name].ok else None for r in results]
                for leaf in leaves
            }
            for s in specs:
                vals = population_values(s, leaf_values)
                per_seed[s.name].append(rank_metrics(vals, accs, s.higher_is_better))
                for a, v, acc in zip(archs, vals, accs):
                    rows.append((a.text, s.name, float(v) if np.isfinite(v) else None,
                                 float(acc), init_seed))
    finally:
        if executor is None or isinstance(executor, str):
            ex.close()
        if st is not None and not hasattr(store, "get"):
            st.close()
    metrics = {name: _aggregate(v) for name, v in per_seed.items()}
    for s in specs:
        metrics[s.name]["higher_is_better"] = s.higher_is_better
    settings = {
        "space": space_obj.name,
        "space_opts": dict(space_obj.opts),
        "truth": truth_name,
        "arch_col": arch_col,
        "acc_col": acc_col,
        "sample": len(archs),
        "seed": seed,
        "init_seeds": init_seeds,
        "batch_size": len(batch),
        "data": batch.source,
        "data_fingerprint": batch.fingerprint,
        "device": str(device),
    }
    return EvalReport(metrics, tuple(rows), settings)
