"""The package's import graph: every module imports on its own and no two modules import each other."""
import ast
import importlib
from pathlib import Path

import pytest

import rnnkit as rk


PACKAGE = Path(rk.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The rnnkit modules ``path`` imports anywhere in its body (function-level imports included:
    they hide a circle, they do not remove it)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("rnnkit")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if not base.startswith("rnnkit"):
                continue
            for alias in node.names:   # `from . import native` imports the module rnnkit.kernels.native
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return found - {name}


def test_every_module_imports_and_no_import_circle():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    for name in modules:
        if not name.endswith("__main__"):       # that one runs the command line
            importlib.import_module(name)
    graph = {name: {m for m in _imports(path, set(modules)) if m in modules} for name, path in modules.items()}
    # a package's __init__ re-exports its submodules; a submodule importing its own package back is the circle
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                if not all(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(cycle, cycle[1:])):
                    pytest.fail("import circle: " + " -> ".join(cycle))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert len(modules) > 30 and "rnnkit.sequence" in modules
