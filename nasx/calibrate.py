"""Few-label calibration: fit a small ranking model on proxy scores of K labelled architectures.

Zero-cost proxies are fixed formulas; on a new space none of them may beat the parameter count.
When the accuracy of a few architectures is known (K of them, e.g. 10 to 100 trained
networks), :func:`fit` learns how to combine the scores of several proxies (``params`` and
``flops`` included) into one ranking, and :class:`CalibratedModel` applies it to new
architectures. :mod:`nasx.proxies.calibrated` makes a fitted model a proxy named
``calibrated:<model file>``, usable wherever a proxy name is (``eval``, ``search``, ``score``).

Definition.

* **Features.** Each feature ``j`` (a proxy's raw score) is mapped to its mid-rank quantile
  among a stored *reference* sample of that feature's values:
  ``q_j(x) = (#{ref < x} + #{ref <= x}) / (2 n_ref)``, in ``[0, 1]``. The map is fixed at fit
  time, so a new architecture's calibrated score does not depend on the other architectures
  scored with it (the calibrated proxy is per model in effect, although it is computed from its
  members' scores like an ensemble). The reference is the labelled architectures' own values,
  or a larger unlabelled pool of scored architectures when one is given (no label is used from
  it). An increasing transform of a proxy (a log, say) gives the same features.
  A failed feature (None/NaN) maps to 0.5, the middle of the reference.
* **Target.** The labelled accuracies' mid-rank quantiles among the K labels (only the order
  of the labels is used).
* **Candidates** (:data:`CANDIDATES` order):
  ``single`` -- one feature, oriented by the sign of its Kendall tau on the training labels;
  ``ridge`` -- ridge regression of the target on all quantile features, intercept not
  penalised, ``alpha`` in :data:`RIDGE_ALPHAS` (larger first);
  ``ranknet`` -- a linear pairwise logistic model (RankNet): minimise the mean over ordered
  label pairs ``y_a > y_b`` of ``log(1 + exp(-w . (q_a - q_b)))`` plus ``lam/2 |w|^2``,
  ``lam`` in :data:`RANKNET_LAMBDAS` (larger first).
* **Selection rule.** The K labels are split into ``min(K, 10)`` folds by a permutation seeded
  with ``seed`` (leave-one-out up to K = 10). Every candidate is fitted on all folds but one
  and predicts the held-out fold; the out-of-fold predictions of all K labels are pooled and
  compared with the labels by Kendall tau-b. The candidate with the highest pooled tau wins;
  a tie (within 1e-9) goes to the earlier candidate (single features, then ridge, then
  ranknet; within a kind, the stronger regularisation). The winner is refitted on all K labels.

The fit is recorded in a JSON model file (:func:`save_model` / :func:`load_model`) with a
``key``: a hash of the label set (architecture strings and accuracies), the feature proxies and
their versions, the probe-data fingerprint the features were scored with, the seed, and the
calibration version. Changing any of them changes the key (and the calibrated proxy's version).
A ``digest`` of the fitted content (weights, reference samples) is checked when the file is
read, so an edited file is refused.

Example:
    >>> import numpy as np
    >>> from nasx.calibrate import fit
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=40), rng.normal(size=40)
    >>> acc = 2 * a - b
    >>> m = fit({"a": a, "b": b}, acc, archs=[str(i) for i in range(40)], seed=0)
    >>> m.kind in ("single", "ridge", "ranknet")
    True
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ConfigError, DataError
from .proxies.calibrated import (
    CALIBRATION_VERSION,
    CalibratedModel,
    load_model,
    quantile_features,
    raw_values,
    save_model,
)

__all__ = [
    "CALIBRATION_VERSION",
    "CANDIDATES",
    "RANKNET_LAMBDAS",
    "RIDGE_ALPHAS",
    "CalibratedModel",
    "fit",
    "fit_from_truth",
    "label_hash",
    "load_model",
    "quantile_features",
    "save_model",
]

RIDGE_ALPHAS = (100.0, 10.0, 1.0, 0.1)
RANKNET_LAMBDAS = (1.0, 0.1, 0.01)
CANDIDATES = ("single", "ridge", "ranknet")
MAX_FOLDS = 10
#: at most this many reference values are stored per feature (evenly spaced quantiles)
MAX_REFERENCE = 2000


def _reference(values: np.ndarray) -> np.ndarray:
    ref = np.sort(values[np.isfinite(values)])
    if len(ref) > MAX_REFERENCE:
        ref = np.quantile(ref, np.linspace(0.0, 1.0, MAX_REFERENCE))
    return ref



def _midrank_quantile(y: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return (rankdata(y) - 0.5) / len(y)


def _kendall(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import kendalltau

    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    t = kendalltau(x, y).statistic
    return 0.0 if not math.isfinite(t) else float(t)


# ---- the candidate models: fit(Q, y) -> (weights, intercept) -------------------------------

def _fit_single(q: np.ndarray, y: np.ndarray, j: int) -> tuple[np.ndarray, float]:
    w = np.zeros(q.shape[1])
    w[j] = -1.0 if _kendall(q[:, j], y) < 0 else 1.0
    return w, 0.0


def _fit_ridge(q: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    t = _midrank_quantile(y)
    qm, tm = q.mean(axis=0), t.mean()
    qc = q - qm
    w = np.linalg.solve(qc.T @ qc + alpha * np.eye(q.shape[1]), qc.T @ (t - tm))
    return w, float(tm - qm @ w)


def _pairs(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.nonzero(y[:, None] > y[None, :])
    return a, b


def _fit_ranknet(q: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    from scipy.optimize import minimize

    a, b = _pairs(y)
    if len(a) == 0:
        return np.zeros(q.shape[1]), 0.0
    d = q[a] - q[b]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        m = d @ w
        val = np.logaddexp(0.0, -m).mean() + 0.5 * lam * (w @ w)
        s = -0.5 * (1.0 - np.tanh(0.5 * m))  # d/dm log(1+exp(-m)) = -sigmoid(-m)
        grad = d.T @ s / len(m) + lam * w
        return float(val), grad

    res = minimize(loss, np.zeros(q.shape[1]), jac=True, method="L-BFGS-B")
    return np.asarray(res.x, dtype=np.float64), 0.0


def _candidates(names: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = [("single", {"feature": n}) for n in names]
    out += [("ridge", {"alpha": a}) for a in RIDGE_ALPHAS]
    out += [("ranknet", {"lam": lam}) for lam in RANKNET_LAMBDAS]
    return out


def _fit_candidate(kind: str, params: Mapping[str, Any], names: Sequence[str], q: np.ndarray,
                   y: np.ndarray) -> tuple[np.ndarray, float]:
    if kind == "single":
        return _fit_single(q, y, list(names).index(params["feature"]))
    if kind == "ridge":
        return _fit_ridge(q, y, float(params["alpha"]))
    return _fit_ranknet(q, y, float(params["lam"]))


def _folds(k: int, seed: int) -> list[np.ndarray]:
    perm = np.random.default_rng(seed).permutation(k)
    return [np.sort(f) for f in np.array_split(perm, min(k, MAX_FOLDS))]


# ---- the fitted model -----------------------------------------------------------------------

def label_hash(archs: Sequence[str], accuracy: Sequence[float]) -> str:
    """Hash of a label set: the sorted (architecture, accuracy) pairs."""
    pairs = sorted((str(a), repr(float(y))) for a, y in zip(archs, accuracy))
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]


def fit(
    features: Mapping[str, Sequence[float | None] | np.ndarray],
    accuracy: Sequence[float] | np.ndarray,
    *,
    archs: Sequence[str],
    seed: int = 0,
    versions: Mapping[str, str] | None = None,
    data_fingerprint: str | None = None,
    reference: Mapping[str, Sequence[float | None] | np.ndarray] | None = None,
    kinds: Sequence[str] = CANDIDATES,
    extra: Mapping[str, Any] | None = None,
) -> CalibratedModel:
    """Fit and select a calibration on K labelled architectures (see the module docstring).

    Args:
        features: feature name (a proxy name) -> its raw values on the K labelled archs.
        accuracy: the K accuracies (higher is better).
        archs: the K architectures' strings (they enter the label hash, hence the key).
        seed: seed of the fold split.
        versions: feature name -> proxy version (recorded in the key; default "1").
        data_fingerprint: fingerprint of the probe batch the features were scored with.
        reference: optional unlabelled pool, feature name -> raw values, for the quantile
            maps (default: the labelled values).
        kinds: which candidate kinds compete (a subset of :data:`CANDIDATES`).
        extra: more provenance recorded in ``fitted_on`` (and so in the key).
    """
    names = tuple(features)
    if not names:
        raise ConfigError("calibration needs at least one feature")
    bad = [k for k in kinds if k not in CANDIDATES]
    if bad or not kinds:
        raise ConfigError(f"unknown calibration candidate kind(s) {bad}; use {CANDIDATES}")
    y = np.asarray(accuracy, dtype=np.float64)
    k = len(y)
    if k < 3:
        raise DataError(f"calibration needs at least 3 labelled architectures; got {k}")
    if len(archs) != k or any(len(raw_values(features[n])) != k for n in names):
        raise DataError("calibration: features, accuracies and archs must have the same length")
    if not np.all(np.isfinite(y)):
        raise DataError("calibration: every accuracy must be a finite number")
    if np.ptp(y) == 0:
        raise DataError("calibration: the accuracies are all equal; nothing to rank")
    raw = {n: raw_values(features[n]) for n in names}
    pool = raw if reference is None else {n: raw_values(reference[n]) for n in names}
    refs = tuple(_reference(pool[n]) for n in names)
    q = np.stack([quantile_features(raw[n], r) for n, r in zip(names, refs)], axis=1)

    folds = _folds(k, seed)
    table: list[dict[str, Any]] = []
    best = None
    for kind, params in _candidates(names):
        if kind not in kinds:
            continue
        pred = np.empty(k)
        for f in folds:
            train = np.setdiff1d(np.arange(k), f)
            w, b = _fit_candidate(kind, params, names, q[train], y[train])
            pred[f] = q[f] @ w + b
        tau = _kendall(pred, y)
        table.append({"kind": kind, **params, "cv_kendall": round(tau, 6)})
        if best is None or tau > best[0] + 1e-9:
            best = (tau, kind, params)
    assert best is not None
    _, kind, params = best
    w, b = _fit_candidate(kind, params, names, q, y)
    vers = {n: str((versions or {}).get(n, "1")) for n in names}
    fitted_on = {"labels": label_hash(archs, y), "n_labels": k, "seed": int(seed),
                 "data_fingerprint": data_fingerprint, "folds": len(folds),
                 "kinds": [k for k in CANDIDATES if k in kinds],
                 "reference_size": {n: int(np.isfinite(pool[n]).sum()) for n in names},
                 **dict(extra or {})}
    return CalibratedModel(features=names, versions=tuple(vers[n] for n in names),
                           references=refs, kind=kind, params=dict(params),
                           weights=tuple(float(x) for x in w), intercept=float(b),
                           fitted_on=fitted_on, selection=tuple(table))


def fit_from_truth(
    truth: str | os.PathLike[str],
    space: Any,
    features: Sequence[str],
    *,
    out: str | os.PathLike[str] | None = None,
    arch_col: str = "arch",
    acc_col: str = "accuracy",
    space_opts: Mapping[str, Any] | None = None,
    session: Any = None,
    **settings: Any,
) -> CalibratedModel:
    """Score the labelled architectures of a ``--truth``-style CSV (``arch``, accuracy) with
    the feature proxies, fit a calibration and, with ``out``, write its model file.

    The scoring runs in ``session`` (a :class:`~nasx.engine.session.Session`), or in one opened
    here from ``settings`` (the fields of :class:`~nasx.settings.RunSettings`: ``data``,
    ``batch_size``, ``seed``, ``device``, ``store``, ...). The probe batch's fingerprint is
    recorded in the model's key: use the calibrated proxy with the same data settings, since
    the features' values (and so their quantiles) depend on the probe batch.

    Example:
        >>> fit_from_truth("labels.csv", "nasbench201", ["synflow", "naswot", "params"],
        ...                out="cal.json", acc_col="cifar10_test")  # doctest: +SKIP
    """
    from .engine.session import Session
    from .evaluation import mean_by_arch, read_truth
    from .proxies.base import get_proxy

    if session is not None and settings:
        raise TypeError("give a session or run settings, not both")
    own = session is None
    if own:
        session = Session(**settings)
    try:
        seed = session.settings.seed
        sp = session.space(space, space_opts)
        names = list(features)
        specs = [get_proxy(n) for n in names]
        bad = [s.name for s in specs if s.population]
        if bad:
            raise ConfigError(f"calibration features must be per-model proxies; "
                              f"{', '.join(bad)} combine several (give their members instead)")
        labels = mean_by_arch(read_truth(truth, sp, arch_col=arch_col, acc_col=acc_col))
        archs = list(labels)
        batch = session.batch(sp, specs)
        results = session.score(archs, sp, names)
    finally:
        if own:
            session.close()
    rows = results if isinstance(results, list) else [results]
    vals: dict[str, list[float | None]] = {n: [] for n in names}
    for r in rows:
        vals[r.proxy].append(r.value if r.ok else None)
    model = fit(vals, [labels[a] for a in archs], archs=[str(a) for a in archs], seed=seed,
                versions={s.name: s.version for s in specs},
                data_fingerprint=batch.fingerprint,
                extra={"space": getattr(sp, "name", str(space)),
                       "space_opts": dict(getattr(sp, "opts", {}) or {}), "acc_col": acc_col})
    if out is not None:
        save_model(model, out)
    return model
