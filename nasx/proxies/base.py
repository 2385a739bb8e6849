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
User proxies are ``"sensitive"`` unless they declare otherwise.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import RegistrationError
from ..registry import proxies as _registry

__all__ = ["ProxySpec", "ScoreContext", "register_proxy", "NEEDS", "get_proxy", "BATCH_SPLIT",
           "needs_images"]

#: what a proxy may declare that it needs
NEEDS = frozenset({"data", "labels", "grads", "per-sample-grads", "train-mode", "none"})

#: the values of ``batch_split`` (see the module docstring)
BATCH_SPLIT = ("invariant", "sensitive")

#: batch-split behaviour of the built-in proxies that do not declare it at registration: the
#: per-sample-gradient proxies are exact under any chunking (each sample is its own batch), the
#: others below do not read ``ctx.chunk_size`` at all. Anything not listed and not declared is
#: "sensitive" (the safe default: the chunk goes into the key and is never changed silently).
_BUILTIN_SPLIT = {
    "gradalign-i": "invariant", "gradalign-ii": "invariant", "gradsign": "invariant",
    "gradalign-i-frac": "invariant", "gradalign-ii-norm": "invariant",
    "ntk": "invariant", "linear-regions": "invariant", "naswot": "invariant",
    "zen": "invariant", "synflow": "invariant", "params": "invariant", "flops": "invariant",
    "te-nas": "invariant",
    "grad-norm": "sensitive", "snip": "sensitive", "fisher": "sensitive", "grasp": "sensitive",
    "jacob-cov": "sensitive",
}


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
    batch_split: str = "sensitive"

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


def register_proxy(
    name: str,
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
    **options: Any,
) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Register a proxy function under ``name`` (a decorator).

    Extra keyword arguments are options passed to the function on every call, so variants are
    registrations of one implementation with different options.

    ``version`` must change whenever the function's results change (it is part of every store
    key). ``batch_split`` is ``"invariant"`` when the value does not depend on
    ``ctx.chunk_size`` and ``"sensitive"`` otherwise (the default for proxies outside nasx).

    Example:
        >>> import nasx
        >>> @nasx.register_proxy("param-count-demo", higher_is_better=True, needs=["none"],
        ...                      paper="(baseline)", replace=True)
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

    split = batch_split if batch_split is not None else _BUILTIN_SPLIT.get(name, "sensitive")
    if split not in BATCH_SPLIT:
        raise RegistrationError(
            f"proxy {name!r}: batch_split must be one of {list(BATCH_SPLIT)}; got {split!r}"
        )
    if not isinstance(version, (str, int)) or str(version).strip() == "":
        raise RegistrationError(f"proxy {name!r}: version must be a non-empty string")

    def wrap(fn: Callable[..., float]) -> Callable[..., float]:
        _validate_fn(name, fn, options)
        doc = description or (inspect.getdoc(fn) or "").split("\n\n")[0]
        spec = ProxySpec(
            name=name,
            fn=fn,
            higher_is_better=higher_is_better,
            needs=frozenset(needs),
            paper=paper,
            version=str(version),
            options=MappingProxyType(dict(options)),
            description=doc,
            batch_split=split,
        )
        _registry.add(name, spec, replace=replace)
        return fn

    if components:
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
        return lambda fn: fn
    return wrap


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
