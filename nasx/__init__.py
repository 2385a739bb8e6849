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

from . import _compat
from .api import evaluate, score, search
from .arch import Arch
from .deploy import build, export
from .errors import NasxError
from .proxies.base import ProxySpec, ScoreContext, register_proxy
from .proxies.ensemble import ensemble, register_ensemble
from .spaces.base import register_space
from .spaces.define_by_run import define_space
from .strategies.base import register_strategy

_compat.install()  # the old nasx.search.* module paths, deprecated

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
    "define_space",
    "register_strategy",
    "search",
    "score",
    "evaluate",
    "train",
    "build",
    "export",
    "list_proxies",
    "list_spaces",
    "list_strategies",
    "__version__",
    "RunSettings",
    "Session",
]

#: public names loaded on first access (they import torch; ``import nasx`` stays light)
_LAZY = {"Session": "nasx.engine.session", "RunSettings": "nasx.settings"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def train(space: Any, arch: Any, *, protocol: Any = "quick", data: Any = None,
          **kwargs: Any) -> Any:
    """Train the network of ``arch`` in ``space`` with a protocol (``nb201``, ``darts``,
    ``quick`` or a YAML file) and return a :class:`nasx.training.TrainResult` with its held-out
    accuracy; keyword arguments and protocol-field overrides (``epochs=12``) as
    :func:`nasx.training.train`.

    Example:
        >>> r = nasx.train("nasbench201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+"
        ...                "|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        ...                protocol="nb201", data="cifar10", epochs=12)  # doctest: +SKIP
    """
    from .training import train as _train

    return _train(space, arch, protocol=protocol, data=data, **kwargs)


def list_proxies(pattern: str | None = None) -> list[str]:
    """Registered proxy names (built-ins and plugins), optionally filtered by a glob."""
    from .registry import proxies

    return proxies.names(pattern)


def list_spaces(pattern: str | None = None) -> list[str]:
    """Registered space names, optionally filtered by a glob."""
    from .registry import spaces

    return spaces.names(pattern)


def list_strategies(pattern: str | None = None) -> list[str]:
    """Registered strategy names, optionally filtered by a glob."""
    from .registry import strategies

    return strategies.names(pattern)
