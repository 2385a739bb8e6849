"""Define-by-run search spaces: a whole space from one function that builds a network.

Write one function that takes a :class:`Trial`, builds an ``nn.Module`` and asks for each choice
as it goes, in the spirit of Optuna's trial API::

    def my_space(trial):
        width = trial.choice("width", [8, 16, 32])
        layers = [nn.Conv2d(trial.input_shape[0], width, 3, padding=1), nn.ReLU()]
        for i in range(trial.integer("depth", 1, 3)):
            k = trial.choice(f"kernel{i}", [3, 5])        # asked only for the layers that exist
            layers += [nn.Conv2d(width, width, k, padding=k // 2), nn.ReLU()]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(width, trial.num_classes))

nasx derives the rest of the :class:`~nasx.spaces.base.SearchSpace` interface by running the
function with a recording trial:

* an architecture is the set of choices one run asked for, written as canonical JSON (sorted
  keys, no spaces): ``{"depth":2,"kernel0":3,"kernel1":5,"width":16}``; that text is
  ``str(arch)``, the store's arch key and the arch column of ``nasx eval --truth`` files;
* ``sample(rng)`` draws each choice uniformly among its options, in the order they are asked
  (a conditional choice is drawn only when the run asks it);
* ``mutate(arch, rng)`` gives one recorded choice (one with more than one option) a different
  value, then re-runs the function: the other choices keep their values where they are still
  asked and still valid, and choices asked for the first time are drawn;
* ``neighbors(arch)`` changes one recorded choice to each of its other values (new choices take
  their first option);
* ``size()`` and ``enumerate()`` walk the tree of choices by re-running the function once per
  architecture; ``size()`` gives up (returns None) after ``size_limit`` runs (default 512), when
  one run asks more than 10,000 choices, or at once when a few random runs estimate (Knuth's
  estimator) more than twice ``size_limit`` architectures: None is never a wrong count;
* ``parse(text)`` / ``check`` / ``build`` replay the function with exactly the given choices:
  a missing choice, an unknown name or a value that is not one of the options is an
  :class:`~nasx.errors.InvalidArchError`.

Recording runs (sampling, mutation, parsing, counting) build the network on PyTorch's ``meta``
device, which allocates no memory and draws no random numbers, inside ``torch.random.fork_rng``
so the caller's random state never moves; a function that cannot run on ``meta`` is run on the
CPU instead. Only :meth:`DefineByRunSpace.build` builds real weights (the caller seeds torch).
The function must be deterministic given its choices (same choices, same questions).

A function becomes a space by passing it where a space is expected (``nasx.search(space=fn)``,
``nasx.registry.make_space(fn)``), by naming it on the command line
(``--space package.module:function`` or ``--space path/to/file.py:function``), by an entry
point of the ``nasx.spaces`` group that names it, or by registering it under a name with
:func:`define_space`.

The store keys scores by the space's name (the function's name, lowercase with hyphens, or the
name it is registered under) and options: give two different functions two different names, and
use a new store, or a new name, after changing what a function builds.

Errors: a function that raises (wrapped, naming the function), returns something that is not an
``nn.Module``, asks no choice at all, or asks one name twice with different options is a
:class:`~nasx.errors.SpaceError` (a ``ConfigError``).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arch import Arch
from ..errors import ConfigError, InvalidArchError, NasxError, RegistrationError, SpaceError
from ..registry import spaces as _registry
from .base import SearchSpace
from .trial import (
    MAX_ASKS,  # noqa: F401 - re-exported: nasx.spaces.define_by_run.MAX_ASKS
    Domain,
    StopTrial,
    TooManyChoices,
    Trial,
    canonical_json,
    same_value,
)

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "Trial",
    "DefineByRunSpace",
    "space_class",
    "from_function",
    "define_space",
    "canonical_json",
]

#: default number of runs ``size()`` may spend walking the tree of choices
DEFAULT_SIZE_LIMIT = 512
_CACHE_SIZE = 4096


class DefineByRunSpace(SearchSpace):
    """A search space defined by one function ``fn(trial) -> nn.Module``.

    Make one with :func:`from_function`, :func:`space_class` or :func:`define_space` (a class
    per function; its constructor takes the space options).

    Options:
        input_size: height and width of the input images.
        in_channels: channels of the input images.
        num_classes: classes the function is told while recording choices (``build`` tells
            it the data's).

    Example:
        >>> from torch import nn
        >>> def tiny(trial):
        ...     w = trial.choice("width", [4, 8])
        ...     return nn.Sequential(nn.Conv2d(3, w, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        ...                          nn.Linear(w, trial.num_classes))
        >>> space = from_function(tiny, input_size=8)
        >>> a = space.parse('{"width": 8}')
        >>> str(a), space.size(), space.parse(str(a)) == a
        ('{"width":8}', 2, True)
    """

    fn: Callable[[Trial], Any]
    size_limit: int = DEFAULT_SIZE_LIMIT
    #: the way another process finds the function again (a registered name or a
    #: ``module:function`` / ``file.py:function`` target), None when it pickles by reference
    source: tuple[str, str] | None = None

    def __init__(self, **opts: Any) -> None:
        super().__init__(**opts)
        for key in ("input_size", "in_channels", "num_classes"):
            if self.opts[key] < 1:
                raise ConfigError(f"{self.name}: option {key} must be >= 1, got "
                                  f"{self.opts[key]}")
        size = self.opts["input_size"]
        self.input_shape = (self.opts["in_channels"], size, size)
        self._meta = True
        self._records: OrderedDict[str, tuple[Arch, tuple[tuple[str, Domain], ...]]] = \
            OrderedDict()
        self._size: int | None | bool = False  # False: not counted yet
        # the function works and asks something (a seeded draw: a run that always takes the
        # first options may never end)
        self._example = self._record(self._run(rng=np.random.default_rng(0))).text

    # -- running the function -----------------------------------------------------------------
    @property
    def function_name(self) -> str:
        fn = type(self).fn
        module = getattr(fn, "__module__", None)
        qual = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
        return f"{module}.{qual}" if module and module != "__main__" else qual

    def _trial(self, num_classes: int | None = None, **kw: Any) -> Trial:
        return Trial(num_classes=num_classes or self.opts["num_classes"],
                     input_shape=self.input_shape, opts=self.opts, **kw)

    def _run(self, *, build: bool = False, num_classes: int | None = None,
             **kw: Any) -> Trial:
        """Run the function once with a trial made of ``kw``; return the trial (what the function
        returned is ``trial._module``). Recording runs build on the ``meta`` device, a ``build``
        run for real."""
        trial = self._trial(num_classes, **kw)
        if build:
            module = self._call(trial, meta=False, protect=False)
        else:
            try:
                module = self._call(trial, meta=self._meta, protect=True)
            except SpaceError as exc:
                if not self._meta or not isinstance(exc.__cause__, Exception) \
                        or isinstance(exc, TooManyChoices):
                    raise
                trial = self._trial(num_classes, **kw)  # retry on the CPU
                module = self._call(trial, meta=False, protect=True)
                self._meta = False
        trial._module = module
        return trial

    def _call(self, trial: Trial, *, meta: bool, protect: bool) -> Any:
        import torch
        from torch import nn

        fn = type(self).fn
        where = torch.device("meta") if meta else nullcontext()
        guard = torch.random.fork_rng(devices=[]) if protect else nullcontext()
        try:
            with guard, where:
                out = fn(trial)
        except StopTrial as stop:
            raise stop.error from None
        except NasxError:
            raise
        except Exception as exc:
            asked = canonical_json(trial._values) if trial._values else "none yet"
            raise SpaceError(
                f"space function {self.function_name} raised {type(exc).__name__}: {exc} "
                f"(choices so far: {asked}); fix the function"
            ) from exc
        if not isinstance(out, nn.Module):
            raise SpaceError(
                f"space function {self.function_name} returned {type(out).__name__}, not an "
                "nn.Module; return the network it built")
        if not trial._path:
            raise SpaceError(
                f"space function {self.function_name} asked no choice; ask for each choice "
                "with trial.choice(name, options) or trial.integer(name, low, high)")
        return out

    def _record(self, trial: Trial) -> Arch:
        """The Arch of a finished run, remembered with the questions it asked."""
        values = trial._values
        text = canonical_json(values)
        arch = Arch(space=self.name, key=text, text=text, spec=tuple(sorted(values.items())))
        self._records[text] = (arch, tuple((n, trial._domains[n]) for n, _, _ in trial._path))
        self._records.move_to_end(text)
        while len(self._records) > _CACHE_SIZE:
            self._records.popitem(last=False)
        return arch

    def _known(self, arch: Arch) -> tuple[Arch, tuple[tuple[str, Domain], ...]]:
        """``arch`` checked, with the questions its run asks (name, options) in order."""
        arch = self.check(arch)
        hit = self._records.get(arch.key)
        if hit is None:  # evicted between the two look-ups
            self.parse(arch.text)
            hit = self._records[arch.key]
        return hit

    # -- notation -----------------------------------------------------------------------------
    def parse(self, text: str) -> Arch:
        """The architecture whose choices ``text`` gives as a JSON object (any key order and
        spacing; the canonical form has sorted keys and no spaces).

        Raises:
            InvalidArchError: not a JSON object, a missing choice, an unknown name, or a value
                that is not one of the options.
        """
        if isinstance(text, Arch):
            text = text.text
        if not isinstance(text, str):
            raise InvalidArchError(
                f"a {self.name} architecture is a JSON object of its choices, got "
                f"{type(text).__name__}")
        hit = self._records.get(text.strip())
        if hit is not None:
            return hit[0]
        try:
            given = json.loads(text)
        except ValueError:
            given = None
        if not isinstance(given, dict):
            raise InvalidArchError(
                f"invalid {self.name} architecture {text!r}: expected a JSON object of its "
                f"choices, e.g. {self.example()}")
        try:
            trial = self._run(given=given, strict=True)
        except InvalidArchError as exc:
            raise InvalidArchError(f"invalid {self.name} architecture {text!r}: {exc}") from None
        unknown = sorted(set(given) - set(trial._values))
        if unknown:
            raise InvalidArchError(
                f"invalid {self.name} architecture {text!r}: unknown choice name(s) "
                f"{', '.join(map(repr, unknown))}; with these choices the space asks "
                f"{', '.join(map(repr, trial._values))}")
        return self._record(trial)

    def example(self) -> str:
        """The canonical text of one architecture (the same one for every instance)."""
        return self._example

    def check(self, arch: Arch) -> Arch:
        if not isinstance(arch, Arch):
            return self.parse(str(arch))
        if arch.space != self.name:
            raise InvalidArchError(f"architecture of space {arch.space!r} given to {self.name!r}")
        hit = self._records.get(arch.key)
        if hit is not None:
            return hit[0]
        return self.parse(arch.text)

    def choices(self, arch: Arch) -> dict[str, Any]:
        """The choices of ``arch`` (name -> value)."""
        return dict(self.check(arch).spec)

    # -- sampling -----------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        """Each choice drawn uniformly among its options, as the function asks it."""
        return self._record(self._run(rng=rng))

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """One recorded choice (among those with several options) changed to a different value;
        the other choices kept where the re-run still asks them, new ones drawn."""
        arch, questions = self._known(arch)
        values = dict(arch.spec)
        open_ = [(n, d) for n, d in questions if len(d) > 1]
        if not open_:
            raise SpaceError(f"space {self.name!r}: every choice of {arch.text} has one option; "
                             "there is nothing to mutate")
        name, domain = open_[int(rng.integers(len(open_)))]
        current = domain.index(values[name])
        new = int(rng.integers(len(domain) - 1))
        if current is not None and new >= current:
            new += 1
        values[name] = domain[new]
        return self._record(self._run(given=values, rng=rng))

    def neighbors(self, arch: Arch) -> list[Arch]:
        """Every architecture with one recorded choice changed (choices asked for the first
        time take their first option)."""
        arch, questions = self._known(arch)
        values = dict(arch.spec)
        seen = {arch.key}
        out = []
        for name, domain in questions:
            for i in range(len(domain)):
                if same_value(values[name], domain[i]):
                    continue
                b = self._record(self._run(given={**values, name: domain[i]}))
                if b.key not in seen:
                    seen.add(b.key)
                    out.append(b)
        return out

    def _walk(self, limit: int | None = None) -> Iterator[Arch]:
        """Every architecture, depth first (first options first); stops after ``limit`` runs."""
        prefix: list[int] = []
        runs = 0
        while True:
            if limit is not None and runs >= limit:
                return
            trial = self._run(prefix=prefix)
            runs += 1
            yield self._record(trial)
            path = trial._path
            k = len(path) - 1
            while k >= 0 and path[k][2] >= path[k][1] - 1:
                k -= 1
            if k < 0:
                return
            prefix = [i for _, _, i in path[:k]] + [path[k][2] + 1]

    def size(self) -> int | None:
        """The number of architectures, counted by running the function once per architecture;
        None when there are more than ``size_limit`` (or a run never ends)."""
        if self._size is False:
            limit = int(self.size_limit)
            n = limit + 1
            try:
                if limit > 0 and self._estimate() <= 2 * limit:
                    n = sum(1 for _ in self._walk(limit + 1))
            except TooManyChoices:
                pass
            self._size = n if n <= limit else None
        return self._size  # type: ignore[return-value]

    def _estimate(self, probes: int = 8) -> float:
        """Knuth's estimate of the number of architectures: the mean, over seeded random runs,
        of the product of the option counts along the run (an unbiased estimate, since each
        choice is drawn uniformly). Used only to skip counting a space far over the limit."""
        rng = np.random.default_rng(0)
        total = 0.0
        for _ in range(probes):
            total += math.prod(float(n) for _, n, _ in self._run(rng=rng)._path)
        return total / probes

    def enumerate(self) -> Iterator[Arch]:
        """Every architecture, depth first in the order the options are listed."""
        if self.size() is None:
            raise NotImplementedError(
                f"space {self.name!r} has more than {self.size_limit} architectures (its "
                "size_limit); nasx does not enumerate it")
        return self._walk()

    # -- networks -----------------------------------------------------------------------------
    def build(self, arch: Arch, num_classes: int) -> nn.Module:
        """The function's network for exactly the choices of ``arch`` (the caller seeds
        torch)."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive int, got {num_classes!r}")
        arch = self.check(arch)
        trial = self._run(build=True, num_classes=num_classes, given=dict(arch.spec),
                          strict=True)
        return trial._module

    def edges(self) -> Sequence[Any]:
        raise NotImplementedError(
            f"space {self.name!r} is defined by a function (define-by-run): it has no cell "
            "edges to prune; use --strategy random or evolution")

    # -- pickling (process and Ray executors) -------------------------------------------------
    def __reduce__(self) -> tuple[Any, ...]:
        cls = type(self)
        settings = {"name": cls.name, "input_size": cls.options["input_size"][1],
                    "in_channels": cls.options["in_channels"][1],
                    "options": {k: v for k, v in cls.options.items() if k not in _BASE_OPTIONS},
                    "size_limit": cls.size_limit}
        return (_rebuild, (cls.source, cls.fn if cls.source is None else None, settings,
                           dict(self.opts)))


_BASE_OPTIONS = ("input_size", "in_channels", "num_classes")


def _rebuild(source: tuple[str, str] | None, fn: Any, settings: dict[str, Any],
             opts: dict[str, Any]) -> DefineByRunSpace:
    """A space again in another process, from its registered name or import target."""
    if source is not None and source[0] == "name":
        from ..registry import make_space

        return make_space(source[1], **opts)
    if source is not None:
        from ..registry import load_target

        fn = load_target(source[1], "--space")
    cls = space_class(fn, **settings)
    cls.source = source
    return cls(**opts)


def _default_name(fn: Any) -> str:
    raw = getattr(fn, "__name__", None) or type(fn).__name__
    name = "".join(c if c.isalnum() else "-" for c in str(raw).lower()).strip("-")
    return name or "define-by-run"


def space_class(
    fn: Callable[[Trial], Any],
    name: str | None = None,
    *,
    input_size: int = 32,
    in_channels: int = 3,
    options: Mapping[str, tuple[type, Any, str]] | None = None,
    size_limit: int = DEFAULT_SIZE_LIMIT,
    doc: str | None = None,
) -> type[DefineByRunSpace]:
    """A :class:`DefineByRunSpace` subclass for ``fn`` (its constructor takes the options).

    Args:
        fn: ``fn(trial) -> nn.Module``.
        name: the space's name (default: the function's name, lowercase with hyphens).
        input_size: default height and width of the input images (``--space-opt``
            ``input_size=...`` changes it).
        in_channels: default channels of the input images.
        options: the function's own options, ``name -> (type, default, help)``, read as
            ``trial.opts[name]`` and set with ``--space-opt``.
        size_limit: runs ``size()`` may spend counting architectures (0: do not count).
        doc: first line shown by ``nasx list spaces`` (default: the function's docstring).
    """
    if isinstance(fn, type) or not callable(fn):
        raise RegistrationError(
            f"a define-by-run space needs a function fn(trial) -> nn.Module, got {fn!r}")
    made = getattr(fn, "__nasx_space__", None)
    if made is not None and (name is None or made.name == name) and options is None:
        return made
    name = name or _default_name(fn)
    own = dict(options or {})
    clash = sorted(set(own) & set(_BASE_OPTIONS))
    if clash:
        raise RegistrationError(f"space {name!r}: options {clash} are set by nasx; rename them")
    spec: dict[str, tuple[type, Any, str]] = {
        "input_size": (int, int(input_size), "height and width of the input images"),
        "in_channels": (int, int(in_channels), "channels of the input images"),
        "num_classes": (int, 10, "classes the function is told while recording choices "
                        "(build() tells it the data's)"),
        **own,
    }
    text = doc or (getattr(fn, "__doc__", None) or "").strip() or \
        f"define-by-run space of {getattr(fn, '__qualname__', fn)!r}"
    return type(f"DefineByRunSpace_{name.replace('-', '_')}", (DefineByRunSpace,), {
        "name": name,
        "fn": staticmethod(fn),
        "options": spec,
        "size_limit": int(size_limit),
        "__doc__": text,
        "__module__": getattr(fn, "__module__", __name__) or __name__,
    })


def from_function(fn: Callable[[Trial], Any], name: str | None = None, **opts: Any
                  ) -> DefineByRunSpace:
    """The space of ``fn`` with the given options (``input_size=..., ...``).

    Example:
        >>> # space = from_function(my_space, input_size=8)
    """
    return space_class(fn, name)(**opts)


def define_space(
    name: str,
    *,
    input_size: int = 32,
    in_channels: int = 3,
    options: Mapping[str, tuple[type, Any, str]] | None = None,
    size_limit: int = DEFAULT_SIZE_LIMIT,
    replace: bool = False,
) -> Callable[[Callable[[Trial], Any]], Callable[[Trial], Any]]:
    """Decorator registering a define-by-run space function under ``name`` (also
    ``nasx.define_space``); the function is returned unchanged.

    Example:
        >>> import nasx
        >>> @nasx.define_space("my-net", input_size=8)  # doctest: +SKIP
        ... def my_net(trial): ...
    """

    def wrap(fn: Callable[[Trial], Any]) -> Callable[[Trial], Any]:
        cls = space_class(fn, name, input_size=input_size, in_channels=in_channels,
                          options=options, size_limit=size_limit)
        cls.source = ("name", name)
        _registry.add(name, cls, replace=replace)
        try:
            fn.__nasx_space__ = cls  # type: ignore[attr-defined]
        except (AttributeError, TypeError):  # pragma: no cover - e.g. a builtin callable
            pass
        return fn

    return wrap
