"""The import graph of the ``nasx`` package has no cycle, and no module imports a private name
(``_x``) of another module.

Every ``import`` / ``from ... import`` statement of every module counts, also those inside
functions (a deferred import is still a dependency); imports under ``if TYPE_CHECKING:`` do not.
An edge goes to the module named, or to the submodule when ``from package import submodule``.
A package's ``__init__`` is not counted as imported by its submodules (Python runs it first, but
that is the package's own choice of what to import).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

import nasx

ROOT = Path(nasx.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = list(p.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                for n in ast.walk(sub):
                    if hasattr(n, "lineno"):
                        lines.add(n.lineno)
    return lines


def _imports(name: str, path: Path, modules: dict[str, Path]):
    """(target module, imported names) of every import statement of module ``name``."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "nasx":
                    yield a.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "nasx":
                continue
            plain = []
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in modules:
                    yield sub, []
                else:
                    plain.append(a.name)
            if plain:
                yield target, plain


def _graph() -> tuple[nx.DiGraph, list[str]]:
    modules = _modules()
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    private = []
    for name, path in modules.items():
        for target, names in _imports(name, path, modules):
            if target not in modules:
                raise AssertionError(f"{name} imports {target}, which does not exist")
            if target != name:
                g.add_edge(name, target)
            for n in names:
                if n.startswith("_") and not n.startswith("__") and target != name:
                    private.append(f"{name} imports {n} from {target}")
    return g, private


def test_graph_is_read():
    g, _ = _graph()
    assert g.number_of_nodes() > 50
    assert g.has_edge("nasx.engine.loop", "nasx.service")


def test_no_import_cycle():
    g, _ = _graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert cycles == [], f"import cycles: {cycles}"


def test_no_import_cycle_between_packages():
    """Collapsing each subpackage (``nasx.proxies``, ``nasx.spaces``, ``nasx.search``, ...) to
    one node still leaves no cycle: e.g. the proxies never import the engine's
    ``nasx.population``, which imports the proxies."""
    g, _ = _graph()

    def group(m: str) -> str:
        return ".".join(m.split(".")[:2])

    h = nx.DiGraph()
    for a, b in g.edges():
        if group(a) != group(b):
            h.add_edge(group(a), group(b))
    cycles = [sorted(c) for c in nx.strongly_connected_components(h) if len(c) > 1]
    assert cycles == [], f"import cycles between packages: {cycles}"


def test_no_private_import_across_modules():
    _, private = _graph()
    assert private == []


def test_every_module_imports_by_its_dotted_path():
    """``import nasx.X.Y as m`` works for every module, in a fresh interpreter after
    ``import nasx`` (no module's package is shadowed by a function or another object)."""
    import subprocess
    import sys

    names = sorted(n for n in _modules() if n != "nasx.__main__")
    code = "import nasx\n" + "".join(
        f"import {n} as m\nassert m.__name__ == {n!r}, m\n" for n in names)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
