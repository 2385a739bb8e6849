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
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import RegistrationError, UnknownNameError

__all__ = ["Registry", "PluginStatus", "proxies", "spaces", "strategies", "plugin_status"]

T = TypeVar("T")

# A bare checkout (not pip-installed) has no entry-point metadata: these built-ins are then
# imported directly, so ``python -m nasx`` from a source tree still finds them.
_BUILTINS: dict[str, list[str]] = {
    "nasx.proxies": [
        "nasx.proxies.gradalign",
        "nasx.proxies.gradsign",
        "nasx.proxies.naswot",
        "nasx.proxies.tenas",
        "nasx.proxies.zen",
        "nasx.proxies.gradnorm",
        "nasx.proxies.snip",
        "nasx.proxies.grasp",
        "nasx.proxies.synflow",
        "nasx.proxies.fisher",
        "nasx.proxies.jacobcov",
        "nasx.proxies.cost",
        "nasx.proxies.zico",
        "nasx.proxies.meco",
        "nasx.proxies.swap",
        "nasx.proxies.aznas",
        "nasx.proxies.vkdnw",
    ],
    "nasx.spaces": [
        "nasx.spaces.nasbench201",
        "nasx.spaces.darts",
        "nasx.spaces.nds",
        "nasx.spaces.nasbench101",
    ],
    "nasx.strategies": [
        "nasx.strategies.random",
        "nasx.strategies.evolution",
        "nasx.strategies.pruning",
    ],
}

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

    # -- registration -------------------------------------------------------------------------
    def add(self, name: str, item: T, *, replace: bool = False) -> T:
        """Register ``item`` under ``name``; a second registration of a name is an error."""
        if not isinstance(name, str) or not name or name != name.strip().lower() or " " in name:
            raise RegistrationError(
                f"{self.kind} name {name!r} must be a non-empty lowercase string without spaces"
            )
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
            seen_values: set[str] = set()
            try:
                eps = list(md.entry_points(group=self.group))
            except Exception:  # pragma: no cover - broken metadata
                eps = []
            for ep in eps:
                dist = getattr(getattr(ep, "dist", None), "name", None) or "unknown"
                source = "nasx" if dist == "nasx" else f"plugin {dist}"
                seen_values.add(ep.value.split(":")[0])
                try:
                    with _loading_from(source):
                        obj = ep.load()
                        self._register_loaded(ep.name, obj)
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
            for module in _BUILTINS.get(self.group, []):
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
            self.add(ep_name, obj)

    # -- lookup -------------------------------------------------------------------------------
    def get(self, name: str) -> T:
        self.load_plugins()
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
        return name in self._items

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted registered names, optionally filtered by a glob pattern."""
        self.load_plugins()
        names = sorted(self._items)
        if pattern:
            names = [n for n in names if fnmatch.fnmatchcase(n, pattern.lower())]
        return names

    def source(self, name: str) -> str:
        self.load_plugins()
        return self._sources.get(name, "unknown")

    def items(self) -> list[tuple[str, T]]:
        self.load_plugins()
        return sorted(self._items.items())


def plugin_status() -> list[PluginStatus]:
    """Status of every entry point seen so far, across the three groups (loads them all)."""
    for reg in (proxies, spaces, strategies):
        reg.load_plugins()
    return list(_status)


proxies: Registry[Any] = Registry("proxy", "nasx.proxies")
spaces: Registry[Any] = Registry("space", "nasx.spaces")
strategies: Registry[Any] = Registry("strategy", "nasx.strategies")
