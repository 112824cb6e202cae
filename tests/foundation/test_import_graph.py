"""The import graph of apps/ is a DAG, counting imports inside functions (grimp reads every import statement),
and nothing dodges it: no `use_case("module")` string imports, no `except ImportError` guards.

The layers themselves are import-linter's contracts (.importlinter, run by scripts/check_architecture.sh).
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"

# None left: a cycle listed here would be tolerated (and the test fails once it is gone, so it only shrinks).
KNOWN_CYCLES: list[frozenset[str]] = []


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("apps", "tradebot", include_external_packages=False, cache_dir=None)


def strongly_connected(modules: set[str], edges: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's components of more than one module (iterative: the graph has hundreds of modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_strongly_connected_finds_a_cycle_and_only_it():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(set(edges), edges) == [{"a", "b", "c"}]
    assert strongly_connected({"a", "b"}, {"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules_of_apps(graph):
    modules = {m for m in graph.modules if m.startswith("apps.")}
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in modules} for m in modules}
    cycles = [frozenset(c) for c in strongly_connected(modules, edges)]
    unexpected = [sorted(c) for c in cycles if c not in KNOWN_CYCLES]
    assert unexpected == [], f"import cycles (imports inside functions count): {unexpected}"


def test_the_known_cycles_are_still_there_or_this_list_shrinks(graph):
    modules = {m for m in graph.modules if m.startswith("apps.")}
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i in modules} for m in modules}
    cycles = {frozenset(c) for c in strongly_connected(modules, edges)}
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in cycles]
    assert gone == [], f"fixed: remove from KNOWN_CYCLES: {gone}"


def _python_files() -> list[Path]:
    return sorted(p for p in APPS.rglob("*.py") if "migrations" not in p.parts)


def test_no_string_imports_nor_import_error_guards_in_apps():
    found = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "use_case":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} use_case(")
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
                if any(getattr(n, "id", "") in ("ImportError", "ModuleNotFoundError") for n in names):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} except ImportError")
    assert found == []


# Folders other work owned while the layers moved (issue 13): their function-level imports are not checked yet.
NOT_YET_CHECKED: tuple[str, ...] = ()


def test_an_import_inside_a_function_says_why():
    """Only for start-up order or cost, or the app registry (AppConfig.ready), with a comment saying which."""
    silent = []
    for path in _python_files():
        if path.relative_to(APPS).parts[0] in NOT_YET_CHECKED or "simulator" in path.parts:
            continue
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines), filename=str(path))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            imports = [n for n in ast.walk(func) if isinstance(n, ast.Import | ast.ImportFrom)]
            for node in imports:
                above = [line.strip() for line in lines[func.lineno : node.lineno]]
                if not any(line.startswith("#") for line in above) and "#" not in lines[node.lineno - 1]:
                    silent.append(f"{path.relative_to(ROOT)}:{node.lineno} {lines[node.lineno - 1].strip()}")
    assert silent == []
