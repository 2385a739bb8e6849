"""Random search: uniform samples from the space, without repeats where the space is finite.

The baseline every NAS paper reports (Li & Talwalkar, "Random Search and Reproducibility for
Neural Architecture Search", UAI 2019). Duplicates are skipped: after ``max_tries`` consecutive
repeats the strategy reports the space as exhausted. The search loop asks ``batch``
architectures at a time (parallel executors score them at once); the sequence of samples is the
same for any ``batch``, so a search with an evaluation budget returns the same result for every
value.
"""

from __future__ import annotations

from typing import Any

from ..arch import Arch
from ..errors import ConfigError
from ..records import Evaluation
from .base import Strategy, register_strategy

__all__ = ["RandomSearch"]


@register_strategy("random")
class RandomSearch(Strategy):
    """Uniform random sampling without repeats.

    Example:
        >>> # nasx.search(space="nasbench201", proxy="gradalign-i", strategy="random", budget=50)
    """

    name = "random"
    options = {
        "max_tries": (int, 1000, "consecutive duplicate samples before the space counts as "
                      "exhausted"),
        "batch": (int, 16, "architectures asked for at once, scored in parallel by parallel "
                  "executors (the samples do not depend on it; a time budget is checked "
                  "between batches)"),
    }

    def __init__(self, space: Any, seed: int = 0, **opts: Any) -> None:
        super().__init__(space, seed, **opts)
        if self.opts["batch"] < 1:
            raise ConfigError(f"random: batch must be >= 1, got {self.opts['batch']}")
        if self.opts["max_tries"] < 1:
            raise ConfigError(f"random: max_tries must be >= 1, got {self.opts['max_tries']} "
                              "(0 would end the search before its first sample)")
        self._seen: set[Arch] = set()
        size = space.size()
        self._limit = size if size is not None else None
        self._tries = 0  # consecutive duplicates (across asks, so batch changes nothing)

    def ask(self, n: int = 1) -> list[Arch]:
        out: list[Arch] = []
        while len(out) < n:
            if self._limit is not None and len(self._seen) >= self._limit:
                break
            if self._tries >= self.opts["max_tries"]:
                break
            a = self.space.sample(self.rng)
            if a in self._seen:
                self._tries += 1
                continue
            self._tries = 0
            self._seen.add(a)
            out.append(a)
        return out

    def tell(self, arch: Arch, fitness: float, info: Evaluation | None = None) -> None:
        pass  # random search does not learn

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "seen": sorted(a.text for a in self._seen)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._seen = {self.space.parse(t) for t in state.get("seen", [])}
