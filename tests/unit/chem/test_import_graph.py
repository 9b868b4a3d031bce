"""The chemistry package's import graph has no cycle, function-level imports included.

Every ``.py`` under ``src/theraflow/chem`` is parsed with ``ast``; each ``import`` and ``from ... import``
anywhere in it (module level, inside functions and methods) is an edge, except those under
``if TYPE_CHECKING:``, which never run. An import of ``a.b.c`` is an edge to ``a.b.c`` only: the parent
packages Python imports on the way are not edges (otherwise every submodule would form a cycle with
its package's ``__init__``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CHEM = Path(__file__).resolve().parents[3] / "src" / "theraflow" / "chem"
PREFIX = "theraflow.chem"


def _module_name(path: Path, root: Path = CHEM) -> str:
    parts = list(path.relative_to(root.parent.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Modules ``module`` imports, at any depth of its code, outside ``if TYPE_CHECKING:``."""
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in known else target)  # `from pkg import module` is an edge to the module
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def import_graph(root: Path = CHEM) -> dict[str, set[str]]:
    """{module: theraflow.chem modules it imports} for every module under ``root``."""
    paths = sorted(root.rglob("*.py"))
    known = {_module_name(p, root) for p in paths}
    graph = {}
    for path in paths:
        name = _module_name(path, root)
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = _imports(tree, name, path.name == "__init__.py", known)
        graph[name] = {t for t in targets if (t == PREFIX or t.startswith(PREFIX + ".")) and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def test_chem_has_no_import_cycle():
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_graph_sees_module_and_function_level_imports():
    graph = import_graph()
    # module level
    assert "theraflow.chem.featurize" in graph["theraflow.chem.featurizers.default"]
    # function level (featurize() opens the store inside the function)
    assert "theraflow.chem.store" in graph["theraflow.chem.featurize"]
    assert "theraflow.chem.featurize" in graph["theraflow.chem.shards"]


def test_the_store_and_the_light_modules_import_no_featurizer():
    graph = import_graph()
    assert not graph["theraflow.chem.store"] & {"theraflow.chem.featurize", "theraflow.chem.featurizers"}
    assert not any(t.startswith("theraflow.chem.featurizers") for t in graph["theraflow.chem.store"])
    assert graph["theraflow.chem.featurizers"] == set()  # names are listed without importing anything


@pytest.mark.parametrize("relpath", ["featurizers/__init__.py", "formats.py"])
def test_light_modules_import_only_stdlib_and_the_registry(relpath):
    """The CLI and the schemas read these to list names: no numpy, pandas, RDKit or torch."""
    path = CHEM / relpath
    tree = ast.parse(path.read_text())
    name = _module_name(path)
    imported = _imports(tree, name, path.name == "__init__.py", set())
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    bad = {m for m in imported if m.split(".")[0] not in allowed and m != "theraflow.registry"}
    assert not bad, f"{relpath} imports {sorted(bad)}"


def test_find_cycle_finds_function_level_cycles(tmp_path):
    pkg = tmp_path / "theraflow" / "chem"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from theraflow.chem.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from theraflow.chem import c\n")
    (pkg / "c.py").write_text("class C:\n    def m(self):\n        from .a import g\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from theraflow.chem import a\n")
    graph = import_graph(pkg)
    assert graph["theraflow.chem.d"] == set()
    cycle = find_cycle(graph)
    assert cycle is not None and set(cycle) == {"theraflow.chem.a", "theraflow.chem.b", "theraflow.chem.c"}
    (pkg / "c.py").write_text("")
    assert find_cycle(import_graph(pkg)) is None


def test_the_package_is_light_and_its_names_resolve():
    """``import theraflow.chem`` (done by every submodule import, e.g. listing featurizers for the CLI)
    loads no RDKit or torch; each public name resolves on first use, and ``featurize``/``standardize``
    stay the functions even when their modules were imported first."""
    import subprocess

    code = (
        "import sys, types\n"
        "import theraflow.chem as chem\n"
        "from theraflow.registry import FEATURIZERS, READERS\n"
        "FEATURIZERS.names(); READERS.names()\n"
        "assert not {'rdkit', 'torch'} & set(sys.modules), sorted({'rdkit', 'torch'} & set(sys.modules))\n"
        "import theraflow.chem.featurize, theraflow.chem.standardize\n"  # modules first: the package keeps the functions
        "from theraflow.chem import featurize, standardize\n"
        "assert callable(featurize) and not isinstance(featurize, types.ModuleType)\n"
        "assert callable(standardize) and not isinstance(standardize, types.ModuleType)\n"
        "assert sorted(chem.__all__) == sorted(chem._EXPORTS)\n"
        "for name in chem.__all__:\n"
        "    assert getattr(chem, name) is getattr(sys.modules['theraflow.chem.' + chem._EXPORTS[name]], name)\n"
        "print(len(featurize(['CCO']).graphs))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
