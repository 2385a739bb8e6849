"""The search-space plugin interface.

A space turns text into :class:`~nasx.arch.Arch` values and back, samples and mutates them with an
injected ``numpy.random.Generator``, and builds an ``nn.Module`` for an architecture. Graph work
(networkx) stays inside the space module; the built module is a plain ``nn.Module``.

Register a space class with :func:`nasx.register_space`; its constructor takes the space options
(``--space-opt KEY=VALUE``) as keyword arguments.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arch import Arch
from ..errors import ConfigError, InvalidArchError, RegistrationError
from ..registry import spaces as _registry

if TYPE_CHECKING:  # torch is imported lazily: strategies are testable without it
    from torch import nn

__all__ = ["MAX_ARCH_DEPTH", "MAX_ARCH_TEXT", "OPTION_LIMITS", "SearchSpace", "Edge",
           "arch_text_problem", "check_option_limit", "coerce_options", "register_space",
           "shorten"]

Edge = Any  # a space-defined hashable edge id

#: upper bound of nasx's space options (by name, for every space that has the option): far
#: above any published network, low enough that a typo cannot ask for terabytes
OPTION_LIMITS: dict[str, int] = {
    "input_size": 1024,
    "C": 1024, "stem_channels": 1024, "width": 1024, "widths": 1024,
    "N": 100, "layers": 100, "cells_per_stack": 100, "depth": 100, "depths": 100,
    "stacks": 8,
}
#: longest architecture text a space parses (characters)
MAX_ARCH_TEXT = 100_000
#: deepest bracket nesting an architecture text may have (a genotype needs 3)
MAX_ARCH_DEPTH = 16
#: characters of an input (and of a problem that may quote it) an error message shows
SHOWN_CHARS = 300


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with ``...`` where it was cut."""
    return text if len(text) <= limit else text[:limit] + "..."


def check_option_limit(owner: str, key: str, value: Any) -> None:
    """Raise :class:`ConfigError` when an integer option is above its :data:`OPTION_LIMITS`."""
    limit = OPTION_LIMITS.get(key)
    if (limit is not None and isinstance(value, int) and not isinstance(value, bool)
            and value > limit):
        raise ConfigError(f"{owner}: option {key}={value} is above its limit {limit}; "
                          f"use at most {limit}")


def arch_text_problem(text: str) -> str | None:
    """Why an architecture text is too large to parse (None when it is not): longer than
    :data:`MAX_ARCH_TEXT` characters, or brackets nested deeper than :data:`MAX_ARCH_DEPTH`
    (outside quoted strings)."""
    if len(text) > MAX_ARCH_TEXT:
        return f"it is {len(text)} characters long (at most {MAX_ARCH_TEXT})"
    depth = 0
    quote = ""
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
            if depth > MAX_ARCH_DEPTH:
                return f"its brackets nest deeper than {MAX_ARCH_DEPTH} levels"
        elif ch in ")]}":
            depth -= 1
    return None


class SearchSpace(abc.ABC):
    """Base class of every search space.

    Subclasses set ``name`` and implement ``parse``, ``sample``, ``mutate`` and ``build``.
    Finite spaces implement ``size`` and ``enumerate``; spaces usable by proxy-guided pruning
    implement ``edges``, ``candidate_ops`` and ``build_supernet``.
    """

    name: str = "space"
    #: default input resolution and channels of the probe images this space expects
    input_shape: tuple[int, int, int] = (3, 32, 32)
    #: option name -> (type, default, help); used for validation and ``nasx list spaces``
    options: dict[str, tuple[type, Any, str]] = {}

    def __init__(self, **opts: Any) -> None:
        self.opts = coerce_options(self.name, self.options, opts)
        for key, value in self.opts.items():
            check_option_limit(self.name, key, value)

    # -- notation -----------------------------------------------------------------------------
    @abc.abstractmethod
    def parse(self, text: str) -> Arch:
        """Parse the space's native notation; raise :class:`InvalidArchError` when invalid."""

    def format(self, arch: Arch) -> str:
        return arch.text

    def to_json(self, arch: Arch) -> Any:
        """A JSON-serialisable description of ``arch`` (default: its text)."""
        return arch.text

    def from_json(self, obj: Any) -> Arch:
        return self.parse(obj if isinstance(obj, str) else str(obj))

    def check(self, arch: Arch) -> Arch:
        """Return ``arch`` if it belongs to this space, else raise InvalidArchError."""
        if not isinstance(arch, Arch):
            return self.parse(str(arch))
        if arch.space != self.name:
            raise InvalidArchError(f"architecture of space {arch.space!r} given to {self.name!r}")
        return arch

    # -- sampling -----------------------------------------------------------------------------
    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> Arch:
        """A uniformly random valid architecture."""

    @abc.abstractmethod
    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """A valid architecture that differs from ``arch`` by one elementary change."""

    def neighbors(self, arch: Arch) -> list[Arch]:
        """All architectures one elementary change away (may be large)."""
        raise NotImplementedError(f"space {self.name!r} does not enumerate neighbors")

    def size(self) -> int | None:
        """Number of architectures, or None when the space is not enumerable."""
        return None

    def enumerate(self) -> Iterator[Arch]:
        raise NotImplementedError(f"space {self.name!r} is not enumerable")

    # -- networks -----------------------------------------------------------------------------
    @abc.abstractmethod
    def build(self, arch: Arch, num_classes: int) -> nn.Module:
        """A freshly initialised network for ``arch`` (the caller seeds torch)."""

    # -- pruning support ----------------------------------------------------------------------
    def edges(self) -> Sequence[Edge]:
        raise NotImplementedError(f"space {self.name!r} does not support pruning")

    def candidate_ops(self, edge: Edge) -> Sequence[str]:
        raise NotImplementedError(f"space {self.name!r} does not support pruning")

    def build_supernet(self, op_sets: dict[Edge, Sequence[str]], num_classes: int) -> nn.Module:
        raise NotImplementedError(f"space {self.name!r} does not support pruning")

    def from_op_sets(self, op_sets: dict[Edge, Sequence[str]]) -> Arch:
        """The architecture when every edge has exactly one op left."""
        raise NotImplementedError(f"space {self.name!r} does not support pruning")

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.opts.items())
        return f"{type(self).__name__}({opts})"


def coerce_options(
    owner: str, spec: dict[str, tuple[type, Any, str]], given: dict[str, Any]
) -> dict[str, Any]:
    """Validate and convert options (strings from the CLI included) against ``spec``."""
    out = {k: d for k, (_, d, _) in spec.items()}
    for key, value in given.items():
        k = key.replace("-", "_")
        if k not in spec:
            known = ", ".join(sorted(spec)) or "(none)"
            raise ConfigError(f"{owner}: unknown option {key!r}; known options: {known}")
        typ = spec[k][0]
        try:
            if typ is bool and isinstance(value, str):
                low = value.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                value = low in ("1", "true", "yes", "on")
            elif typ is int and (isinstance(value, bool) or (
                    isinstance(value, float) and not value.is_integer())):
                raise ValueError(value)  # True is not 1, and 2.5 is not 2
            elif value is not None and not isinstance(value, typ):
                value = typ(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{owner}: option {key}={value!r} is not a valid {typ.__name__}"
            ) from None
        out[k] = value
    return out


def register_space(name: str, *, replace: bool = False) -> Callable[[type], type]:
    """Class decorator registering a :class:`SearchSpace` subclass under ``name`` (the one way
    to register a space: nasx's own spaces use it too; also ``nasx.register_space``).

    Example:
        >>> from nasx.spaces.base import SearchSpace, register_space
        >>> @register_space("my-space")  # doctest: +SKIP
        ... class MySpace(SearchSpace): ...
    """

    def wrap(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, SearchSpace)):
            hint = (" (register a define-by-run function fn(trial) -> nn.Module with "
                    "nasx.define_space)" if callable(cls) and not isinstance(cls, type) else "")
            raise RegistrationError(f"space {name!r}: {cls!r} must subclass SearchSpace{hint}")
        _registry.add(name, cls, replace=replace)
        return cls

    return wrap
