"""Per-architecture proxy scores and accuracies of three spaces, read from files only (nothing
is scored): the tables of ``benchmarks/calibration.py`` and ``benchmarks/ensemble_cross_space.py``.

Tasks:

* ``nb201-naslib-{cifar10,cifar100,imagenet16}`` -- NASLib's NAS-Bench-Suite-Zero sample of
  NAS-Bench-201 cells (``nasbench_suite_zero/zc_nasbench201.csv``, about 725 per dataset) with
  **NASLib's precomputed proxy scores**; accuracy: the seed-averaged NAS-Bench-201 test accuracy of
  that dataset from ``nasbench201/accuracies.csv`` (``cifar10_test``, ``cifar100_test``,
  ``imagenet16_test``), not NASLib's single-seed label.
* ``nb201-nasx`` -- nasx's own scores of every per-model proxy on 1000 NAS-Bench-201 cells
  (``benchmarks/results/nb201_scores_cpu.csv``), accuracy ``cifar10_test``.
* ``nb101`` -- NASLib's 500 NAS-Bench-101 cells with NASLib's scores; accuracy NASLib's label.
* ``nb301`` -- NASLib's 725 DARTS (NAS-Bench-301) cells with NASLib's scores; accuracy NASLib's
  label.

NASLib's score columns are oriented higher-is-better as NASLib writes them (a negative Kendall
tau, e.g. jacov on NAS-Bench-101, is the proxy's behaviour there). A non-finite score (NASLib
writes ``-inf`` for a singular NWOT kernel) is replaced by the feature's lowest finite value
minus one (ranked last), ``+inf`` by the highest plus one. nasx's failures (empty cells) stay
missing (NaN).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import shared_root  # noqa: E402  (puts this checkout first)

REPO = Path(__file__).resolve().parents[1]
SCORES_NASX = REPO / "benchmarks" / "results" / "nb201_scores_cpu.csv"
NASLIB_FEATURES = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm",
                   "nwot", "params", "plain", "snip", "synflow")
#: NASLib's name -> nasx's proxy name (the proxies both implement)
NASLIB_TO_NASX = {"nwot": "naswot", "synflow": "synflow", "jacov": "jacob-cov", "snip": "snip",
                  "grad_norm": "grad-norm", "fisher": "fisher", "grasp": "grasp",
                  "params": "params", "flops": "flops"}
NB201_DATASETS = {"cifar10": "cifar10_test", "cifar100": "cifar100_test",
                  "ImageNet16-120": "imagenet16_test"}
_ACC_COLS = ("cifar10_test", "cifar100_test", "imagenet16_test")


@dataclass
class Task:
    """One table: ``features[name]`` (n,) raw scores (NaN = failed), ``acc`` (n,)."""

    name: str
    space: str
    archs: list[str]
    acc: np.ndarray
    features: dict[str, np.ndarray]
    higher_is_better: dict[str, bool]
    source: str
    accuracy: str


def shared_data() -> Path:
    root = shared_root()
    if not (root / "nasbench_suite_zero").is_dir():
        raise SystemExit(f"shared data not found at {root}; set NASX_SHARED_DATA")
    return root


def _num(text: str) -> float:
    return float("nan") if text.strip() in ("", "nan") else float(text)


def _clean(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.float64).copy()
    fin = np.isfinite(v)
    if fin.any():
        v[np.isneginf(v)] = v[fin].min() - 1.0
        v[np.isposinf(v)] = v[fin].max() + 1.0
    return v


def _naslib_task(name: str, space: str, rows: list[dict], acc: np.ndarray, archs: list[str],
                 source: str, accuracy: str) -> Task:
    feats = {c: _clean(np.array([_num(r[c]) for r in rows])) for c in NASLIB_FEATURES
             if c in rows[0]}
    return Task(name, space, archs, acc, feats, {c: True for c in feats}, source, accuracy)


def load_nb201_naslib(dataset: str = "cifar10") -> Task:
    root = shared_data()
    with open(root / "nasbench201" / "accuracies.csv", newline="") as f:
        truth = {r["arch"]: r for r in csv.DictReader(f)}
    with open(root / "nasbench_suite_zero" / "zc_nasbench201.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["dataset"] == dataset]
    col = NB201_DATASETS[dataset]
    acc = np.array([float(truth[r["arch"]][col]) for r in rows])
    short = {"cifar10": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "imagenet16"}
    return _naslib_task(f"nb201-naslib-{short[dataset]}", "nasbench201", rows, acc,
                        [r["arch"] for r in rows],
                        "NASLib's precomputed scores (nasbench_suite_zero/zc_nasbench201.csv, "
                        f"dataset {dataset})", f"nasbench201/accuracies.csv {col}")


def _load_naslib_file(name: str, space: str, file: str, arch_col: str, accuracy: str) -> Task:
    """One of NASLib's NAS-Bench-Suite-Zero files whose label is its ``val_accuracy``."""
    with open(shared_data() / "nasbench_suite_zero" / file, newline="") as f:
        rows = list(csv.DictReader(f))
    return _naslib_task(name, space, rows, np.array([float(r["val_accuracy"]) for r in rows]),
                        [r[arch_col] for r in rows],
                        f"NASLib's precomputed scores (nasbench_suite_zero/{file})", accuracy)


def load_nb101() -> Task:
    return _load_naslib_file("nb101", "nasbench101", "zc_nasbench101.csv", "naslib_key",
                             "NASLib val_accuracy (NAS-Bench-101, 108 epochs)")


def load_nb301() -> Task:
    return _load_naslib_file("nb301", "darts", "zc_nasbench301.csv", "genotype",
                             "NASLib val_accuracy (NAS-Bench-301, CIFAR-10)")


def load_nb201_nasx(path: Path = SCORES_NASX) -> Task:
    from nasx.proxies.base import get_proxy

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    names = [c for c in rows[0] if c != "arch" and c not in _ACC_COLS]
    feats = {c: np.array([_num(r[c]) for r in rows]) for c in names}
    return Task("nb201-nasx", "nasbench201", [r["arch"] for r in rows],
                np.array([float(r["cifar10_test"]) for r in rows]), feats,
                {c: get_proxy(c).higher_is_better for c in names},
                f"nasx's own scores ({path.relative_to(REPO)})",
                "nasbench201/accuracies.csv cifar10_test")


def load_nasx_scores(space: str) -> Task:
    """nasx's own scores of NASLib's cells of ``space`` (nb201: the CIFAR-10 sample, nb101,
    nb301), written by ``benchmarks/zc_spaces.py --score SPACE``; the accuracy is that script's
    (NB201 ``cifar10_test``, else NASLib's ``val_accuracy``)."""
    from nasx.proxies.base import get_proxy

    path = REPO / "benchmarks" / "results" / f"zc_scores_{space}_cpu.csv"
    if not path.exists():
        raise SystemExit(f"{path} not found; run benchmarks/zc_spaces.py --score {space}")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    names = [c for c in rows[0] if c not in ("idx", "arch", "accuracy", "seconds")]
    return Task(f"{space}-nasx", {"nb201": "nasbench201", "nb101": "nasbench101",
                                  "nb301": "darts"}[space],
                [r["arch"] for r in rows], np.array([float(r["accuracy"]) for r in rows]),
                {c: np.array([_num(r[c]) for r in rows]) for c in names},
                {c: get_proxy(c).higher_is_better for c in names},
                f"nasx's own scores ({path.relative_to(REPO)}, {len(rows)} of NASLib's cells)",
                "cifar10_test" if space == "nb201" else "NASLib val_accuracy")


def load(space: str) -> list[Task]:
    """The tasks of ``space`` (nb201, nb101 or nb301)."""
    if space == "nb201":
        return [load_nb201_naslib(d) for d in NB201_DATASETS] + [load_nb201_nasx()]
    if space == "nb101":
        return [load_nb101()]
    if space == "nb301":
        return [load_nb301()]
    raise SystemExit(f"unknown space {space!r}; use nb201, nb101 or nb301")


def failed_last(v: np.ndarray) -> np.ndarray:
    """``v`` with non-finite entries (failed scores) put below every finite one."""
    v = np.asarray(v, dtype=np.float64).copy()
    bad = ~np.isfinite(v)
    if bad.any():
        v[bad] = (np.min(v[~bad]) - 1.0) if (~bad).any() else 0.0
    return v


def kendall(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau of ``x`` (failures last) against ``y``; 0 for a constant ``x``."""
    from scipy import stats

    x = failed_last(x)
    return 0.0 if np.ptp(x) == 0 else float(stats.kendalltau(x, y).statistic)


def partial_kendall(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Partial Kendall tau of ``x`` and ``y`` given ``z``:
    ``(t_xy - t_xz t_yz) / sqrt((1 - t_xz^2)(1 - t_yz^2))`` (NaN where ``z`` explains all)."""
    txy, txz, tyz = kendall(x, y), kendall(x, z), kendall(z, y)
    den = math.sqrt(max((1 - txz ** 2) * (1 - tyz ** 2), 0.0))
    return float("nan") if den == 0 else (txy - txz * tyz) / den


def oriented(task: Task, name: str) -> np.ndarray:
    v = task.features[name]
    return v if task.higher_is_better[name] else -v
