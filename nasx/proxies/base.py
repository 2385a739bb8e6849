"""The proxy plugin interface: a scoring function plus its metadata.

A proxy is a function ``fn(model, batch, ctx, **options) -> float`` registered with
:func:`register_proxy`. ``model`` is a freshly initialised ``nn.Module`` on ``ctx.device``;
``batch`` is a :class:`~nasx.data.ProbeBatch` (normalised images ``x`` and labels ``y`` on the
device; the call's own copy, so writing into it changes no other proxy's input); ``ctx`` is a
:class:`ScoreContext`. The function may change the model's weights or mode (the scorer
restores the initial state before the next proxy) and must return a finite float; anything else
is a recorded failure.

A *population* proxy (``components=...``, ``combine=...``) has no per-model function: its score
is computed from its component proxies' scores over the whole set of architectures being ranked,
as TE-NAS combines the ranks of its NTK and linear-region scores.

Versions and cached scores
--------------------------
A proxy's ``version`` is part of every store key (:attr:`ProxySpec.cache_id`), so a score is
served from the store only by code that computes it the same way. Bump it whenever a change can
alter any value the proxy returns (a fixed bug, a new default, another reduction order). For the
built-in proxies this is enforced by ``tests/proxies/test_versions.py``: it scores a fixed tiny
set of cells and compares them with values pinned per (proxy, version); a behaviour change
without a version bump fails that test, and bumping the version means re-pinning the values.

Batch splitting
---------------
``batch_split`` says whether a proxy's value depends on how the scorer splits the probe batch
(``ctx.chunk_size``): ``"invariant"`` (per-sample computations, or the proxy ignores the chunk)
or ``"sensitive"`` (the batch is run in slices and BatchNorm in training mode normalises each
slice by its own statistics: grad-norm, snip, fisher, grasp, jacob-cov). For a sensitive proxy
the chunk size is part of the store key and the scorer never shrinks it on out-of-memory (it
records the failure instead); for an invariant one the scorer may retry with smaller chunks.
A proxy registered without ``batch_split`` is ``"sensitive"`` (:data:`DEFAULT_BATCH_SPLIT`): the
safe choice, since the chunk then goes into the key and is never changed behind the caller's
back. Every built-in proxy states it in its registration call (an ensemble takes its members':
``"invariant"`` only when every member is).

Registering
-----------
Everything that goes into a proxy's store key (name, version, options, batch split) and its
other metadata (orientation, needs) is stated in one call, in one of three forms:

* decorator: ``@register_proxy("name", higher_is_better=..., ...)`` above the function;
* direct: ``register_proxy("name", fn, higher_is_better=..., ...)`` registers ``fn`` at once;
* population: ``register_proxy("name", components=[...], combine=f, ...)`` registers at once
  and returns the :class:`ProxySpec` (it has no per-model function, so no decorator form).

Misuse is an error (:class:`~nasx.errors.RegistrationError`): a decorator applied to anything but
one callable, applied twice, or never applied (``register_proxy("name", ...)`` as a statement
without a function registers nothing; the next lookup in the proxy registry reports it).

Device-specific proxies
-----------------------
A proxy registered with ``device_specific=True`` measures the machine rather than computing a
function of the network (the ``latency`` proxy times forward passes): its value depends on the
device *model*, not only its kind. Its store key then also holds the device's identity
(:func:`nasx.scoring.device_model`: the GPU's name, or the CPU's model and torch's thread
count), so a latency measured on one machine is never served on another. Such a proxy is not
deterministic (it is a measurement) and is scored one architecture at a time on the local
device (the sequential executor).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar, overload

import numpy as np

from ..errors import RegistrationError
from ..registry import proxies as _registry

__all__ = ["ProxySpec", "ProxyDecorator", "ScoreContext", "register_proxy", "NEEDS", "get_proxy",
           "BATCH_SPLIT", "DEFAULT_BATCH_SPLIT", "needs_images"]

#: what a proxy may declare that it needs
NEEDS = frozenset({"data", "labels", "grads", "per-sample-grads", "train-mode", "none"})

#: the values of ``batch_split`` (see the module docstring)
BATCH_SPLIT = ("invariant", "sensitive")

#: the batch split of a proxy registered without stating it (see the module docstring)
DEFAULT_BATCH_SPLIT = "sensitive"


@dataclass(frozen=True)
class ProxySpec:
    """A registered proxy: function, orientation and provenance."""

    name: str
    fn: Callable[..., float] | None
    higher_is_better: bool
    needs: frozenset[str]
    paper: str
    version: str = "1"
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""
    components: tuple[str, ...] = ()
    combine: Callable[[Mapping[str, np.ndarray]], np.ndarray] | None = None
    batch_split: str = DEFAULT_BATCH_SPLIT
    device_specific: bool = False

    @property
    def split_sensitive(self) -> bool:
        """True when the value depends on how the probe batch is split into chunks."""
        return self.batch_split != "invariant"

    @property
    def population(self) -> bool:
        """True when the score depends on the set of architectures being ranked."""
        return bool(self.components)

    @property
    def cache_id(self) -> str:
        """Proxy identity in the store: name, version and options."""
        if not self.options:
            return f"{self.name}@{self.version}"
        opts = ",".join(f"{k}={self.options[k]!r}" for k in sorted(self.options))
        return f"{self.name}@{self.version}[{opts}]"

    def oriented(self, value: float) -> float:
        """The score with higher always better (what rankings and searches use)."""
        return value if self.higher_is_better else -value

    def __call__(self, model: Any, batch: Any, ctx: ScoreContext) -> float:
        if self.fn is None:
            raise RegistrationError(
                f"proxy {self.name!r} is a population proxy; score its components "
                f"({', '.join(self.components)}) and combine them"
            )
        return self.fn(model, batch, ctx, **dict(self.options))


@dataclass
class ScoreContext:
    """What the scorer hands a proxy besides the model and the batch.

    Attributes:
        device: the torch device the model and batch are on.
        seed: the initialisation seed of this scoring.
        num_classes: number of classes of the probe data.
        generator: a torch.Generator on ``device`` seeded from ``seed`` (for random inputs).
        cache: values shared between proxies scored on the same (arch, seed, batch), such as
            per-sample gradients. Keys are tuples naming what was computed and how.
        chunk_size: per-sample-gradient chunk (samples per vmap call); None means all at once.
        space: the search space object (some proxies read its input shape).
        grad_method: per-sample-gradient route (``auto``, ``capture`` or ``vmap``, see
            :func:`nasx.grads.stream_per_sample_grads`); every route gives the same values.
        notes: facts a proxy reports about its computation (e.g. classes left out).
    """

    device: Any
    seed: int
    num_classes: int
    generator: Any = None
    cache: dict[Any, Any] = field(default_factory=dict)
    chunk_size: int | None = None
    space: Any = None
    grad_method: str = "auto"
    notes: dict[str, Any] = field(default_factory=dict)


_PROXY_PARAMS = ("model", "batch", "ctx")


def _validate_fn(name: str, fn: Callable[..., Any], options: Mapping[str, Any]) -> None:
    if not callable(fn):
        raise RegistrationError(f"proxy {name!r}: {fn!r} is not callable")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins: accept
        return
    params = list(sig.parameters.values())
    positional = [
        p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    has_varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    if len(positional) < 3 and not has_varargs:
        raise RegistrationError(
            f"proxy {name!r}: {getattr(fn, '__qualname__', fn)}{sig} must accept "
            f"(model, batch, ctx, **options) -> float"
        )
    has_varkw = any(p.kind == p.VAR_KEYWORD for p in params)
    accepted = {p.name for p in params}
    for opt in options:
        if opt not in accepted and not has_varkw:
            raise RegistrationError(
                f"proxy {name!r}: option {opt!r} is not a parameter of "
                f"{getattr(fn, '__qualname__', fn)}{sig}; expected "
                f"(model, batch, ctx, **options) -> float"
            )
    required = [
        p.name
        for p in params[3:]
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    missing = [r for r in required if r not in options]
    if missing:
        raise RegistrationError(f"proxy {name!r}: required options {missing} are not given")


_F = TypeVar("_F", bound=Callable[..., Any])

#: ``(name, where)`` of every ``register_proxy(name, ...)`` decorator dropped without being
#: applied; the next lookup in the proxy registry reports them (:func:`_check_unapplied`)
_UNAPPLIED: list[tuple[str, str]] = []


class ProxyDecorator:
    """What ``register_proxy(name, ...)`` returns when given no function: apply it to exactly
    one proxy function, as ``@register_proxy(name, ...)`` above its definition or
    ``register_proxy(name, ...)(fn)``; it registers the function and returns it unchanged.

    Applying it to anything but one callable, or a second time, raises
    :class:`~nasx.errors.RegistrationError`. One that is dropped without being applied (the
    statement ``register_proxy("name", ...)`` with no function) registers nothing, and the next
    lookup in the proxy registry raises a RegistrationError naming the file and line.
    """

    def __init__(self, name: str, register: Callable[[Callable[..., float]], None],
                 where: str) -> None:
        self.name = name
        self._register = register
        self._where = where
        self._applied = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._applied:
            raise RegistrationError(
                f"register_proxy({self.name!r}, ...) is applied a second time; call "
                "register_proxy once for each proxy")
        self._applied = True
        if kwargs or len(args) != 1 or not callable(args[0]):
            got = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
            raise RegistrationError(
                f"register_proxy({self.name!r}, ...) decorates one proxy function "
                f"(model, batch, ctx, **options) -> float; it was called with ({got})")
        self._register(args[0])
        return args[0]

    def __repr__(self) -> str:
        state = "applied" if self._applied else "not applied yet"
        return f"<register_proxy({self.name!r}, ...) decorator, {state}>"

    def __del__(self) -> None:
        if not getattr(self, "_applied", True) and _UNAPPLIED is not None:  # None: at exit
            _UNAPPLIED.append((self.name, self._where))


def _check_unapplied() -> None:
    """Raise for the ``register_proxy`` decorators dropped unapplied since the last check."""
    if not _UNAPPLIED:
        return
    found = list(_UNAPPLIED)
    del _UNAPPLIED[:len(found)]
    what = "; ".join(f"register_proxy({n!r}, ...) at {w}" for n, w in found)
    raise RegistrationError(
        f"{what} registered nothing: the decorator was never applied to a function; put it "
        "above the proxy function (@register_proxy(...)) or pass the function: "
        "register_proxy(name, fn, ...)")


_registry.add_check(_check_unapplied)


def _caller() -> str:
    """``file:line`` of the code that called the function calling this one."""
    frame = inspect.currentframe()
    caller = frame.f_back.f_back if frame is not None and frame.f_back is not None else None
    if caller is None:  # pragma: no cover - interpreters without frames
        return "(unknown place)"
    return f"{caller.f_code.co_filename}:{caller.f_lineno}"


@overload
def register_proxy(name: str, fn: _F, /, **kwargs: Any) -> _F: ...


@overload
def register_proxy(name: str, fn: None = None, /, **kwargs: Any
                   ) -> ProxyDecorator | ProxySpec: ...


def register_proxy(
    name: str,
    fn: Callable[..., float] | None = None,
    /,
    *,
    higher_is_better: bool,
    needs: Sequence[str] = ("data", "labels"),
    paper: str = "",
    version: str = "1",
    description: str = "",
    components: Sequence[str] = (),
    combine: Callable[[Mapping[str, np.ndarray]], np.ndarray] | None = None,
    replace: bool = False,
    batch_split: str | None = None,
    device_specific: bool = False,
    **options: Any,
) -> Any:
    """Register a proxy under ``name``: everything its store key holds is stated here.

    Three forms (see the module docstring): with ``fn``, register it at once and return it;
    without ``fn`` and ``components``, return a :class:`ProxyDecorator` to apply to the
    function; with ``components`` and ``combine`` (a population proxy, no function), register
    at once and return its :class:`ProxySpec`.

    Extra keyword arguments are options passed to the function on every call, so variants are
    registrations of one implementation with different options.

    ``version`` must change whenever the function's results change (it is part of every store
    key). ``batch_split`` is ``"invariant"`` when the value does not depend on
    ``ctx.chunk_size`` and ``"sensitive"`` otherwise; left out, it is
    :data:`DEFAULT_BATCH_SPLIT` (``"sensitive"``: the chunk size goes into the store key and is
    never changed silently, right for any proxy whatever it computes).
    ``device_specific`` marks a measurement of the device (see the module docstring): the
    device's model goes into its store key.

    Raises:
        RegistrationError: a bad declaration (orientation, needs, batch split, version), a
            function whose signature does not fit ``(model, batch, ctx, **options)``, a
            function given with ``components``, or ``combine`` without ``components``.

    Example:
        >>> import nasx
        >>> @nasx.register_proxy("param-count-demo", higher_is_better=True, needs=["none"],
        ...                      paper="(baseline)", batch_split="invariant", replace=True)
        ... def param_count(model, batch, ctx):
        ...     return float(sum(p.numel() for p in model.parameters()))
    """
    if not isinstance(higher_is_better, bool):
        raise RegistrationError(f"proxy {name!r}: higher_is_better must be True or False")
    bad = set(needs) - NEEDS
    if bad:
        raise RegistrationError(
            f"proxy {name!r}: unknown needs {sorted(bad)}; allowed: {sorted(NEEDS)}"
        )
    split = DEFAULT_BATCH_SPLIT if batch_split is None else batch_split
    if split not in BATCH_SPLIT:
        raise RegistrationError(
            f"proxy {name!r}: batch_split must be one of {list(BATCH_SPLIT)}; got {split!r}"
        )
    if not isinstance(version, (str, int)) or str(version).strip() == "":
        raise RegistrationError(f"proxy {name!r}: version must be a non-empty string")
    if not isinstance(device_specific, bool):
        raise RegistrationError(f"proxy {name!r}: device_specific must be True or False")

    if components:
        if fn is not None:
            raise RegistrationError(
                f"population proxy {name!r}: it has no per-model function (its score combines "
                "its components'); pass components and combine, not a function")
        if combine is None:
            raise RegistrationError(f"population proxy {name!r} needs a combine function")
        spec = ProxySpec(
            name=name,
            fn=None,
            higher_is_better=higher_is_better,
            needs=frozenset(needs),
            paper=paper,
            version=str(version),
            description=description,
            components=tuple(components),
            combine=combine,
            batch_split=split,
        )
        _registry.add(name, spec, replace=replace)
        return spec
    if combine is not None:
        raise RegistrationError(
            f"proxy {name!r}: combine is for population proxies; give their components too")

    def register(f: Callable[..., float]) -> None:
        _validate_fn(name, f, options)
        doc = description or (inspect.getdoc(f) or "").split("\n\n")[0]
        _registry.add(name, ProxySpec(
            name=name,
            fn=f,
            higher_is_better=higher_is_better,
            needs=frozenset(needs),
            paper=paper,
            version=str(version),
            options=MappingProxyType(dict(options)),
            description=doc,
            batch_split=split,
            device_specific=device_specific,
        ), replace=replace)

    if fn is not None:
        register(fn)
        return fn
    return ProxyDecorator(name, register, _caller())

def get_proxy(name: str | ProxySpec) -> ProxySpec:
    """Look up a registered proxy by name (with did-you-mean on a miss). A name that is not
    registered and names an ensemble (``"a+b+c"`` or the path of an ensemble file, see
    :mod:`nasx.proxies.ensemble`) gives that ensemble."""
    if isinstance(name, ProxySpec):
        return name
    if isinstance(name, str) and name not in _registry:
        for resolve in _NAME_RESOLVERS:
            spec = resolve(name)
            if spec is not None:
                return spec
    return _registry.get(name)


#: functions ``name -> spec or None`` asked, in order, for a name that is not registered
_NAME_RESOLVERS: list[Callable[[str], ProxySpec | None]] = []


def add_name_resolver(resolve: Callable[[str], ProxySpec | None]) -> None:
    """Let ``resolve`` answer names that are not registered (ensembles use it for
    ``"a+b"`` names and ensemble files); it returns None for names it does not know."""
    if resolve not in _NAME_RESOLVERS:
        _NAME_RESOLVERS.append(resolve)


def needs_images(specs: Sequence[Any]) -> bool:
    """True when any of the (leaf) proxy specs needs real images: every proxy does unless it
    declares ``"none"`` in its ``needs`` and neither ``"data"`` nor ``"labels"``."""
    for spec in specs:
        needs = frozenset(getattr(spec, "needs", ()) or ())
        if "none" not in needs or needs & {"data", "labels"}:
            return True
    return False
