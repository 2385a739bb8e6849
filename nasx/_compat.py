"""Import paths that moved, kept working with a DeprecationWarning.

Until 0.1 the search loop and the strategies lived in a package ``nasx.search``, whose name was
also the public search function ``nasx.search()``. The loop is now :mod:`nasx.engine.loop` and
the strategies :mod:`nasx.strategies`; no package is named ``search``. The old module paths
(``nasx.search.loop``, ``nasx.search.base``, ``nasx.search.random``, ``nasx.search.evolution``,
``nasx.search.pruning``) still import, as the same module objects as the new ones, through a
finder on ``sys.meta_path`` that answers only those names. Importing one binds ``nasx.search``
to a module that is still callable as the search function, so old code keeps working both ways.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

#: old module path -> new module path
MOVED = {
    "nasx.search.loop": "nasx.engine.loop",
    "nasx.search.base": "nasx.strategies.base",
    "nasx.search.random": "nasx.strategies.random",
    "nasx.search.evolution": "nasx.strategies.evolution",
    "nasx.search.pruning": "nasx.strategies.pruning",
}
OLD_PACKAGE = "nasx.search"


class _CallablePackage(types.ModuleType):
    """The deprecated ``nasx.search`` package: its modules are the moved ones, and calling it
    calls :func:`nasx.api.search`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .api import search

        return search(*args, **kwargs)


class _Loader(importlib.abc.Loader):
    def __init__(self) -> None:
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if spec.name == OLD_PACKAGE:
            from .api import search

            module = _CallablePackage(OLD_PACKAGE, search.__doc__)
            module.__path__ = []  # a package, so its moved submodules import
            return module
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} is deprecated; import {new}", DeprecationWarning,
                      stacklevel=3)
        module = importlib.import_module(new)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        if self._spec is not None:  # the import system set the old name's spec: undo it
            module.__spec__ = self._spec


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the moved module paths (:data:`MOVED`) and nothing else."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname != OLD_PACKAGE and fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader(),
                                              is_package=fullname == OLD_PACKAGE)


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
