"""nasx: zero-cost neural architecture search.

Score untrained networks with training-free proxies (GradAlign-I/II and the baselines of the
GradAlign paper) and search cell spaces with those scores as fitness.

Example:
    >>> import nasx  # doctest: +SKIP
    >>> result = nasx.search(space="nasbench201", proxy="gradalign-i", strategy="random",
    ...                      budget=50, data="probe.npz", seed=0)  # doctest: +SKIP
    >>> print(result.best)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .arch import Arch
from .errors import NasxError
from .proxies.base import ProxySpec, ScoreContext, register_proxy
from .proxies.ensemble import ensemble, register_ensemble

__version__ = "0.1.0"

__all__ = [
    "Arch",
    "NasxError",
    "ProxySpec",
    "ScoreContext",
    "register_proxy",
    "ensemble",
    "register_ensemble",
    "register_space",
    "register_strategy",
    "search",
    "score",
    "evaluate",
    "list_proxies",
    "list_spaces",
    "list_strategies",
    "__version__",
]


def register_space(name: str, *, replace: bool = False):
    """Class decorator registering a :class:`nasx.spaces.base.SearchSpace` subclass."""
    from .registry import spaces

    def wrap(cls):
        from .errors import RegistrationError
        from .spaces.base import SearchSpace

        if not (isinstance(cls, type) and issubclass(cls, SearchSpace)):
            raise RegistrationError(f"space {name!r}: {cls!r} must subclass SearchSpace")
        spaces.add(name, cls, replace=replace)
        return cls

    return wrap


def register_strategy(name: str, *, replace: bool = False):
    """Class decorator registering a :class:`nasx.strategies.base.Strategy` subclass."""
    from .registry import strategies

    def wrap(cls):
        from .errors import RegistrationError
        from .strategies.base import Strategy

        if not (isinstance(cls, type) and issubclass(cls, Strategy)):
            raise RegistrationError(f"strategy {name!r}: {cls!r} must subclass Strategy")
        strategies.add(name, cls, replace=replace)
        return cls

    return wrap


def search(*args: Any, **kwargs: Any):
    """See :func:`nasx.api.search`."""
    from .api import search as _search

    return _search(*args, **kwargs)


def score(*args: Any, **kwargs: Any):
    """See :func:`nasx.api.score`."""
    from .api import score as _score

    return _score(*args, **kwargs)


def evaluate(*args: Any, **kwargs: Any):
    """See :func:`nasx.evaluation.evaluate`."""
    from .evaluation import evaluate as _evaluate

    return _evaluate(*args, **kwargs)


def list_proxies(pattern: str | None = None) -> list[str]:
    from .registry import proxies

    return proxies.names(pattern)


def list_spaces(pattern: str | None = None) -> list[str]:
    from .registry import spaces

    return spaces.names(pattern)


def list_strategies(pattern: str | None = None) -> list[str]:
    from .registry import strategies

    return strategies.names(pattern)
