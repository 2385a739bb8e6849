"""The recording trial of define-by-run spaces: what a space function is given.

A :class:`Trial` answers each question of one run of a space function (``trial.choice``,
``trial.integer``) and records the choices asked, their options and the path through the tree of
choices; :mod:`nasx.spaces.define_by_run` turns those records into a search space.
:func:`canonical_json` is the text of a set of choices (the architecture's ``str``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidArchError, NasxError, SpaceError

__all__ = [
    "MAX_ASKS",
    "Domain",
    "StopTrial",
    "TooManyChoices",
    "Trial",
    "canonical_json",
    "same_value",
]

#: a run that asks more choices than this is stopped (a space that never ends)
MAX_ASKS = 10_000
_SCALARS = (str, int, float, bool, type(None))


def canonical_json(values: Mapping[str, Any]) -> str:
    """The canonical text of a set of choices: JSON with sorted keys and no spaces."""
    return json.dumps(dict(values), sort_keys=True, separators=(",", ":"), allow_nan=False)


def same_value(value: Any, option: Any) -> bool:
    """Whether ``value`` (e.g. read from JSON) denotes ``option``: bools only match bools,
    numbers match numbers of equal value (``1`` denotes ``1.0``), strings and None themselves."""
    if isinstance(option, bool) or isinstance(value, bool):
        return isinstance(option, bool) and isinstance(value, bool) and option == value
    if isinstance(option, (int, float)):
        return isinstance(value, (int, float)) and value == option
    return type(value) is type(option) and value == option


class Domain:
    """The options of one choice: a tuple of JSON scalars, or an integer range."""

    __slots__ = ("kind", "values")

    def __init__(self, kind: str, values: tuple[Any, ...] | range) -> None:
        self.kind = kind
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i: int) -> Any:
        return self.values[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Domain) or other.kind != self.kind:
            return False
        if self.kind == "integer":
            return self.values == other.values
        return len(self.values) == len(other.values) and all(
            same_value(a, b) for a, b in zip(self.values, other.values))

    def __hash__(self) -> int:  # pragma: no cover - not hashed
        return hash((self.kind, len(self.values)))

    def index(self, value: Any) -> int | None:
        """Position of the option ``value`` denotes, None when it is not an option."""
        if self.kind == "integer":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None
            if isinstance(value, float) and not value.is_integer():
                return None
            r = self.values
            v = int(value)
            if v in r:
                return r.index(v)
            return None
        for i, option in enumerate(self.values):
            if same_value(value, option):
                return i
        return None

    def describe(self) -> str:
        if self.kind == "integer":
            r = self.values
            step = f" step {r.step}" if r.step != 1 else ""
            return f"integers {r.start}..{r[-1]}{step}"
        return json.dumps(list(self.values))


class StopTrial(Exception):
    """Raised inside the space function to stop a run with a nasx error (kept as is)."""

    def __init__(self, error: NasxError) -> None:
        super().__init__(str(error))
        self.error = error


class TooManyChoices(SpaceError):
    """A run that asked more than :data:`MAX_ASKS` choices."""


class Trial:
    """What a space function is given: ask for choices, read the run's context.

    Every question names its choice; one name asked again with the same options returns the
    same value (asking it with other options is an error). Options are JSON scalars (str, int,
    float, bool, None).

    Attributes:
        num_classes: outputs the network's classifier should have.
        input_shape: ``(channels, height, width)`` of the input images.
        opts: the space's options (``--space-opt KEY=VALUE``), as a dict.
    """

    def __init__(self, *, num_classes: int, input_shape: tuple[int, int, int],
                 opts: Mapping[str, Any], given: Mapping[str, Any] | None = None,
                 rng: np.random.Generator | None = None, strict: bool = False,
                 prefix: Sequence[int] | None = None) -> None:
        self.num_classes = int(num_classes)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.opts = dict(opts)
        self._given = dict(given or {})
        self._rng = rng
        self._strict = strict
        self._prefix = list(prefix) if prefix is not None else None
        self._domains: dict[str, Domain] = {}
        self._values: dict[str, Any] = {}
        #: (name, number of options, index taken) of every first question, in asking order
        self._path: list[tuple[str, int, int]] = []
        self._module: Any = None  # what the function returned (set once it has run)

    @property
    def params(self) -> dict[str, Any]:
        """The choices made so far in this run (name -> value)."""
        return dict(self._values)

    def choice(self, name: str, options: Sequence[Any]) -> Any:
        """One of ``options`` (a non-empty sequence of distinct JSON scalars).

        Example:
            >>> # act = trial.choice("act", ["relu", "gelu"])
        """
        if isinstance(options, (str, bytes)) or not isinstance(options, Sequence):
            raise StopTrial(SpaceError(
                f"trial.choice({name!r}, ...): options must be a list of values, got "
                f"{type(options).__name__}"))
        opts = tuple(options)
        if not opts:
            raise StopTrial(SpaceError(f"trial.choice({name!r}, ...): options are empty"))
        for i, o in enumerate(opts):
            if not isinstance(o, _SCALARS) or (isinstance(o, float) and not math.isfinite(o)):
                raise StopTrial(SpaceError(
                    f"trial.choice({name!r}, ...): option {o!r} is not a JSON scalar "
                    "(str, int, finite float, bool or None); name the option instead, e.g. "
                    "trial.choice('act', ['relu', 'gelu'])"))
            if any(same_value(o, p) for p in opts[:i]):
                raise StopTrial(SpaceError(
                    f"trial.choice({name!r}, ...): option {o!r} is listed twice"))
        return self._ask(name, Domain("choice", opts))

    def integer(self, name: str, low: int, high: int, step: int = 1) -> int:
        """An integer in ``low, low + step, ..., high`` (both ends included).

        Example:
            >>> # depth = trial.integer("depth", 1, 4)
        """
        for what, v in (("low", low), ("high", high), ("step", step)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise StopTrial(SpaceError(
                    f"trial.integer({name!r}, ...): {what} must be an int, got {v!r}"))
        if step < 1 or high < low:
            raise StopTrial(SpaceError(
                f"trial.integer({name!r}, {low}, {high}, step={step}): need low <= high and "
                "step >= 1"))
        return int(self._ask(name, Domain("integer", range(int(low), int(high) + 1,
                                                               int(step)))))

    def _ask(self, name: str, domain: Domain) -> Any:
        if not isinstance(name, str) or not name:
            raise StopTrial(SpaceError(f"a choice name must be a non-empty string, got {name!r}"))
        known = self._domains.get(name)
        if known is not None:
            if known != domain:
                raise StopTrial(SpaceError(
                    f"choice {name!r} is asked twice with different options "
                    f"({known.describe()}, then {domain.describe()}); give each question its "
                    "own name"))
            return self._values[name]
        if len(self._path) >= MAX_ASKS:
            raise StopTrial(TooManyChoices(f"a run asked more than {MAX_ASKS} choices"))
        index: int | None = None
        if self._prefix is not None:
            k = len(self._path)
            index = self._prefix[k] if k < len(self._prefix) else 0
        elif name in self._given:
            index = domain.index(self._given[name])
            if index is None and self._strict:
                raise StopTrial(InvalidArchError(
                    f"value {self._given[name]!r} of choice {name!r} is not one of its options "
                    f"({domain.describe()})"))
        elif self._strict:
            raise StopTrial(InvalidArchError(
                f"choice {name!r} is missing (options {domain.describe()})"))
        if index is None:
            index = int(self._rng.integers(len(domain))) if self._rng is not None else 0
        value = domain[index]
        self._domains[name] = domain
        self._values[name] = value
        self._path.append((name, len(domain), index))
        return value
