"""Entry-point backed registries for the three plugin kinds: proxies, spaces and strategies.

Built-in components are declared in nasx's own ``pyproject.toml`` under the same entry-point
groups that third parties use (``nasx.proxies``, ``nasx.spaces``, ``nasx.strategies``). An entry
point names a module (whose import registers components through the ``register_*`` decorators) or
an object (a registered function, or a class). Loading is lazy: nothing is imported until a name is
looked up or listed. A plugin that fails to import is a warning naming its distribution and the
error, never a crash; ``plugin_status()`` reports every plugin's state.
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import importlib
import importlib.metadata as md
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from .errors import ConfigError, RegistrationError, UnknownNameError

__all__ = [
    "Registry",
    "PluginStatus",
    "proxies",
    "spaces",
    "strategies",
    "plugin_status",
    "builtin_modules",
    "make_space",
    "make_strategy",
    "load_target",
]

T = TypeVar("T")

#: the plugin package of each group, and the call by which its modules register components
_PLUGIN_PACKAGES: dict[str, tuple[str, str]] = {
    "nasx.proxies": ("proxies", "register_proxy"),
    "nasx.spaces": ("spaces", "register_space"),
    "nasx.strategies": ("strategies", "register_strategy"),
}
# (register_proxy, register_space and register_strategy live in proxies/base.py, spaces/base.py
# and strategies/base.py, beside the base class they check: this module imports no plugin package)
#: other lines by which a built-in module of a group registers components
_EXTRA_CALLS: dict[str, tuple[str, ...]] = {"nasx.proxies": ("register_ensemble",),
                                            "nasx.spaces": ("define_space",)}
#: the function turning a plain function into a component of a group, imported when needed: an
#: entry point, ``make_space(fn)`` or ``--space module:function`` naming a define-by-run space
_FUNCTION_ADAPTERS: dict[str, str] = {"nasx.spaces": "nasx.spaces.define_by_run:space_class"}


def builtin_modules(group: str) -> list[str]:
    """nasx's own plugin modules of an entry-point group, found in the package: every public
    module of ``nasx/proxies``, ``nasx/spaces`` or ``nasx/strategies`` whose source registers a
    component (a line starting with ``register_proxy(``, ``register_ensemble(``,
    ``@register_space(``, ...).

    ``pyproject.toml`` declares the same modules as entry points (a test checks it); this table
    is what a bare checkout, or a checkout whose installed metadata is stale, loads.
    """
    if group not in _PLUGIN_PACKAGES:
        return []
    folder, call = _PLUGIN_PACKAGES[group]
    root = Path(__file__).resolve().parent / folder
    calls = "|".join((call, *_EXTRA_CALLS.get(group, ())))
    pattern = re.compile(rf"^@?(?:{calls})\(", re.MULTILINE)
    out = []
    for path in sorted(root.glob("*.py")):
        if path.name.startswith("_"):
            continue
        if pattern.search(path.read_text(encoding="utf-8")):
            out.append(f"nasx.{folder}.{path.stem}")
    return out


_current_source = threading.local()


def _source(item: Any = None) -> str:
    """Where a registration comes from: the entry point being loaded, else the item's module
    (nasx itself, an installed distribution, or plain Python code)."""
    current = getattr(_current_source, "value", None)
    if current:
        return current
    obj = getattr(item, "fn", None) or item
    module = getattr(obj, "__module__", None) or ""
    top = module.split(".")[0]
    if top == "nasx":
        return "nasx"
    if top:
        try:
            dists = md.packages_distributions().get(top)
        except Exception:  # pragma: no cover
            dists = None
        if dists:
            return f"plugin {dists[0]}"
        return f"python ({module})"
    return "python"


@contextlib.contextmanager
def _loading_from(source: str) -> Iterator[None]:
    prev = getattr(_current_source, "value", None)
    _current_source.value = source
    try:
        yield
    finally:
        _current_source.value = prev


@dataclass(frozen=True)
class PluginStatus:
    """State of one entry point: where it comes from and whether it loaded."""

    group: str
    name: str
    value: str
    distribution: str
    ok: bool
    error: str | None = None


_status: list[PluginStatus] = []


class Registry(Generic[T]):
    """Name -> component map for one plugin kind.

    Names are lowercase-hyphen data (``gradalign-i``), globbable in :meth:`names`.
    """

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._items: dict[str, T] = {}
        self._sources: dict[str, str] = {}
        self._loaded = False
        self._lock = threading.RLock()
        self._checks: list[Callable[[], None]] = []

    # -- registration -------------------------------------------------------------------------
    def add(self, name: str, item: T, *, replace: bool = False) -> T:
        """Register ``item`` under ``name``; a second registration of a name is an error."""
        if not isinstance(name, str) or not name or name != name.strip().lower() or " " in name:
            raise RegistrationError(
                f"{self.kind} name {name!r} must be a non-empty lowercase string without spaces"
            )
        if "@" in name:
            raise RegistrationError(
                f"{self.kind} name {name!r} must not contain '@', which separates the version in "
                "the store keys; use lowercase letters, digits and - _ . +"
            )
        if not self._loaded and _source(item) != "nasx":
            # a user's component registered before the plugins load must meet the built-ins
            # now: registered later, a built-in of the same name would fail its whole module
            self.load_plugins()
        with self._lock:
            if name in self._items and not replace:
                if self._sources.get(name) == _source(item):
                    # the same module imported twice (e.g. by path and by entry point)
                    self._items[name] = item
                    return item
                raise RegistrationError(
                    f"{self.kind} {name!r} is already registered (from {self._sources[name]}); "
                    "pass replace=True to override it"
                )
            self._items[name] = item
            self._sources[name] = _source(item)
        return item

    def add_check(self, check: Callable[[], None]) -> None:
        """Run ``check`` after each plugin module is imported and before every lookup; it
        raises :class:`RegistrationError` to report a registration left unfinished (e.g. a
        decorator that was never applied), which makes a plugin's load fail."""
        if check not in self._checks:
            self._checks.append(check)

    def _run_checks(self) -> None:
        for check in self._checks:
            check()

    def registered(self, name: str) -> bool:
        """Whether ``name`` is registered already, without loading any plugin."""
        return name in self._items

    def remove(self, name: str) -> None:
        with self._lock:
            self._items.pop(name, None)
            self._sources.pop(name, None)

    # -- loading ------------------------------------------------------------------------------
    def load_plugins(self) -> None:
        """Import every entry point of this group once (and the built-in fallback table)."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            builtins = builtin_modules(self.group)
            seen_values: set[str] = set()
            try:
                eps = list(md.entry_points(group=self.group))
            except Exception:  # pragma: no cover - broken metadata
                eps = []
            for ep in eps:
                dist = getattr(getattr(ep, "dist", None), "name", None) or "unknown"
                source = "nasx" if dist == "nasx" else f"plugin {dist}"
                module = ep.value.split(":")[0]
                if dist == "nasx" and module not in builtins:
                    continue  # installed metadata older than this checkout: the table loads it
                seen_values.add(module)
                try:
                    with _loading_from(source):
                        obj = ep.load()
                        self._register_loaded(ep.name, obj)
                        self._run_checks()
                except Exception as exc:  # a broken plugin never breaks nasx
                    msg = f"{type(exc).__name__}: {exc}"
                    _status.append(PluginStatus(self.group, ep.name, ep.value, dist, False, msg))
                    warnings.warn(
                        f"nasx: {self.kind} plugin {ep.name!r} from distribution {dist!r} "
                        f"failed to load ({msg}); it is skipped",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                else:
                    _status.append(PluginStatus(self.group, ep.name, ep.value, dist, True))
            for module in builtins:
                if module in seen_values:
                    continue
                with _loading_from("nasx"):
                    try:
                        importlib.import_module(module)
                    except ModuleNotFoundError as exc:
                        if exc.name != module:  # a real missing dependency: say so
                            warnings.warn(f"nasx: built-in {self.kind} module {module} failed "
                                          f"to load ({exc}); it is skipped", RuntimeWarning,
                                          stacklevel=2)

    def _register_loaded(self, ep_name: str, obj: Any) -> None:
        """An entry point may name a module (it registered itself on import) or an object."""
        import types

        if isinstance(obj, types.ModuleType):
            return
        register = getattr(obj, "__nasx_register__", None)
        if callable(register):
            register(ep_name)
            return
        if ep_name not in self._items:
            self.add(ep_name, self.adapt(obj, ep_name))

    def adapt(self, obj: Any, name: str | None = None) -> Any:
        """``obj`` as a component of this group: a plain function becomes one where the group
        has an adapter (a define-by-run space function becomes a space class); anything
        else is returned unchanged."""
        target = _FUNCTION_ADAPTERS.get(self.group)
        if target is None or not _is_plain_function(obj):
            return obj
        return load_target(target, "adapter")(obj, name)

    # -- lookup -------------------------------------------------------------------------------
    def get(self, name: str) -> T:
        self.load_plugins()
        self._run_checks()
        try:
            return self._items[name]
        except KeyError:
            pass
        norm = name.strip().lower().replace("_", "-")
        if norm in self._items:
            return self._items[norm]
        raise UnknownNameError(self._unknown_message(name))

    def _unknown_message(self, name: str) -> str:
        known = sorted(self._items)
        close = difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"no {self.kind} {name!r}.{hint} Installed: {', '.join(known) or '(none)'}"

    def __contains__(self, name: object) -> bool:
        self.load_plugins()
        self._run_checks()
        return name in self._items

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted registered names, optionally filtered by a glob pattern."""
        self.load_plugins()
        self._run_checks()
        names = sorted(self._items)
        if pattern:
            names = [n for n in names if fnmatch.fnmatchcase(n, pattern.lower())]
        return names

    def source(self, name: str) -> str:
        self.load_plugins()
        return self._sources.get(name, "unknown")

    def items(self) -> list[tuple[str, T]]:
        self.load_plugins()
        self._run_checks()
        return sorted(self._items.items())


def plugin_status() -> list[PluginStatus]:
    """Status of every entry point seen so far, across the three groups (loads them all)."""
    for reg in (proxies, spaces, strategies):
        reg.load_plugins()
    return list(_status)


proxies: Registry[Any] = Registry("proxy", "nasx.proxies")
spaces: Registry[Any] = Registry("space", "nasx.spaces")
strategies: Registry[Any] = Registry("strategy", "nasx.strategies")


def _is_plain_function(obj: Any) -> bool:
    """A callable that is neither a class nor a component object (which has ``build``)."""
    return callable(obj) and not isinstance(obj, type) and not hasattr(obj, "build")


def load_target(target: str, what: str = "--space") -> Any:
    """The object named by ``package.module:attribute`` or ``path/to/file.py:attribute``.

    A file is imported once per resolved path (as a module named after it). Raises
    :class:`ConfigError` when the module cannot be imported or has no such attribute.
    """
    import importlib.util
    import sys

    module_name, sep, attr = target.rpartition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{what} {target!r}: expected 'package.module:function' or "
                          "'path/to/file.py:function'")
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        path = Path(module_name).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"{what} {target!r}: no file {str(path)!r}")
        import hashlib

        digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
        stem = re.sub(r"\W", "_", path.stem)
        key = f"nasx_file_{stem}_{digest}"
        module = sys.modules.get(key)
        if module is None:
            spec = importlib.util.spec_from_file_location(key, path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"{what} {target!r}: {str(path)!r} is not a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[key]
                raise ConfigError(f"{what} {target!r}: importing {str(path)!r} failed "
                                  f"({type(exc).__name__}: {exc})") from exc
    else:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise ConfigError(f"{what} {target!r}: cannot import {module_name!r} "
                              f"({type(exc).__name__}: {exc}); is it installed or on "
                              "PYTHONPATH?") from exc
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = sorted(n for n in dir(module) if not n.startswith("_"))
            close = difflib.get_close_matches(part, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{what} {target!r}: {module_name!r} has no attribute "
                              f"{attr!r}.{hint}")
        obj = getattr(obj, part)
    return obj


def make_space(name: str | Any, **opts: Any) -> Any:
    """Instantiate a space with options: a registered name, a ``module:function`` or
    ``file.py:function`` target, or a define-by-run function (``fn(trial) -> nn.Module``); a
    space object passes through."""
    if not isinstance(name, str):
        if _is_plain_function(name):
            return spaces.adapt(name)(**opts)
        if opts:
            raise ConfigError("space options given together with a space object")
        return name
    if ":" in name and not spaces.registered(name):
        obj = load_target(name, "--space")
        if _is_plain_function(obj):
            cls = spaces.adapt(obj)
            if getattr(cls, "source", None) is None:  # other processes import it again
                cls.source = ("target", _absolute_target(name))
            return cls(**opts)
        if isinstance(obj, type):
            return obj(**opts)
        if opts:
            raise ConfigError(f"space options given together with the space object {name!r}")
        return obj
    cls = spaces.get(name)
    return spaces.adapt(cls, name)(**opts)


def _absolute_target(target: str) -> str:
    module_name, _, attr = target.rpartition(":")
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        return f"{Path(module_name).expanduser().resolve()}:{attr}"
    return target


def make_strategy(name: str | Any, space: Any, seed: int = 0, **opts: Any) -> Any:
    """Instantiate a registered strategy for ``space``; a strategy object passes through."""
    if not isinstance(name, str):
        return name
    cls = strategies.get(name)
    return cls(space, seed=seed, **opts)
