"""Refine a zero-cost search by training: train the K best architectures of a search result
with a protocol and return both the zero-cost best and the best after training.

Example:
    >>> result = nasx.search(space="nasbench201", proxy="gradalign-i", budget=100)  # doctest: +SKIP
    >>> r = refine(result, 5, "nb201", data="cifar10", epochs=12)  # doctest: +SKIP
    >>> r.zero_cost_best, r.refined_best, r.refined_accuracy  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..records import json_clean
from .api import TrainResult, train
from .protocol import Protocol

__all__ = ["RefineResult", "refine"]


@dataclass(frozen=True)
class RefineResult:
    """The zero-cost best, the K trained candidates (in zero-cost order) and the best of them
    by held-out accuracy (ties: the better zero-cost rank)."""

    zero_cost_best: str
    zero_cost_score: float | None
    refined_best: str
    refined_accuracy: float | None
    candidates: tuple[tuple[str, float | None, TrainResult], ...]  # (arch, score, training)

    def to_dict(self) -> dict[str, Any]:
        return json_clean({
            "zero_cost_best": self.zero_cost_best, "zero_cost_score": self.zero_cost_score,
            "refined_best": self.refined_best, "refined_accuracy": self.refined_accuracy,
            "candidates": [{"arch": a, "score": s, "accuracy": t.accuracy,
                            "cached": t.cached} for a, s, t in self.candidates],
        })


def _top_and_space(search_result: Any) -> tuple[list[tuple[str, float | None]], str, dict]:
    d = search_result.to_dict() if hasattr(search_result, "to_dict") else dict(search_result)
    top = [(t["arch"], t.get("score")) if isinstance(t, Mapping) else (t[0], t[1])
           for t in d.get("top") or []]
    space = d.get("space") or (d.get("settings") or {}).get("space")
    opts = dict((d.get("settings") or {}).get("space_opts") or {})
    if not top or not space:
        raise ConfigError("the search result has no ranked architectures (top) or no space")
    return top, str(space), opts


def refine(search_result: Any, k: int, protocol: str | Protocol, data: Any, *,
           space_opts: Mapping[str, Any] | None = None, **options: Any) -> RefineResult:
    """Train the ``k`` best architectures of ``search_result`` (a
    :class:`~nasx.records.SearchResult` or its ``to_dict()``) with ``protocol`` on ``data``.

    The candidates are compared on a held-out fraction of the training data
    (``eval_split="holdout"``, ``holdout`` of the protocol) unless ``eval_split`` is given: a
    pick made on a test split would be judged later on the very images that chose it.

    ``options`` are :func:`~nasx.training.train`'s (``test_data``, ``seed``, ``device``,
    ``store``, ``threads``, ``download``, ``on_event``) and protocol field overrides.

    The space and its options are the search's (``space_opts`` given here win; the protocol's
    own ``space_opts`` apply under them as in :func:`~nasx.training.train`). Each training is
    stored and reused as :func:`~nasx.training.train` does, with a checkpoint folder per run.

    Raises:
        ConfigError: ``k < 1``, a result without ranked architectures or with fewer than
            ``k``.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"refine: k must be an int >= 1, got {k!r}")
    top, space, search_opts = _top_and_space(search_result)
    if k > len(top):
        raise ConfigError(f"refine: the search result ranks {len(top)} architecture(s), fewer "
                          f"than k={k}; search with a larger top-k (--top-k {k})")
    opts = {**search_opts, **dict(space_opts or {})}
    # the K candidates are chosen by held-out accuracy: by default on a held-out part of the
    # training data, never on a test split the user will report the pick on
    options.setdefault("eval_split", "holdout")
    candidates = []
    for arch, score in top[:k]:
        result = train(space, arch, protocol=protocol, data=data, space_opts=opts, **options)
        candidates.append((arch, score, result))
    best = max(range(len(candidates)),
               key=lambda i: (candidates[i][2].accuracy if candidates[i][2].accuracy is not None
                              else float("-inf"), -i))
    return RefineResult(top[0][0], top[0][1], candidates[best][0], candidates[best][2].accuracy,
                        tuple(candidates))
