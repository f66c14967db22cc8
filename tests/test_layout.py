"""The code's shape, measured: small modules, short functions, and no import loop among poc's modules.

Read from the source with `ast`, so each limit is exact and the test takes a second. An import inside a
function counts (it loops just the same when it runs); one under `if TYPE_CHECKING:` does not (it never runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "poc_cli"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60  # from `def` to the last line, docstring included


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        found[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return found


MODULES = _modules()


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of every node under an `if TYPE_CHECKING:` block."""
    return {id(inner) for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) for inner in ast.walk(node)}


def _imports(name: str, tree: ast.Module) -> set[str]:
    """poc modules `name` imports when it runs: `from a import b` is a.b where that is a module, else a."""
    skip = _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in MODULES}
        elif isinstance(node, ast.ImportFrom) and node.module in MODULES:
            inner = {f"{node.module}.{alias.name}" for alias in node.names} & MODULES.keys()
            found |= inner or {node.module}
    return found - {name}


def test_no_module_is_longer_than_the_limit() -> None:
    lines = {str(path.relative_to(PACKAGE.parent)): len(path.read_text(encoding="utf-8").splitlines())
             for path in sorted(PACKAGE.rglob("*.py"))}
    too_long = {path: n for path, n in lines.items() if n > MAX_MODULE_LINES}
    assert too_long == {}, f"modules over {MAX_MODULE_LINES} lines: {too_long}"
    assert len(lines) > 50  # the package was found


def test_no_function_is_longer_than_the_limit() -> None:
    too_long = {f"{name}.{node.name}": node.end_lineno - node.lineno + 1  # type: ignore[operator]
                for name, tree in MODULES.items() for node in ast.walk(tree)
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES}  # type: ignore[operator]
    assert too_long == {}, f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"


def test_no_import_loop() -> None:
    graph = _graph()
    loops = [sorted(component) for component in nx.strongly_connected_components(graph) if len(component) > 1]
    assert loops == [], f"modules that import each other: {loops}"
    assert graph.number_of_edges() > 100  # the graph is read at all: poc's modules import each other a lot


@pytest.mark.parametrize("module", ["poc_cli.recipe", "poc_cli.specs"])
def test_the_recipe_does_not_import_the_tasks(module: str) -> None:
    """The recipe validates its own fields; whether a task takes them is checked where they meet."""
    reachable = nx.descendants(_graph(), module)
    assert not any(name.startswith("poc_cli.tasks") for name in reachable), sorted(reachable)


def _graph() -> nx.DiGraph:
    """Which poc module imports which."""
    graph = nx.DiGraph()
    for name, tree in MODULES.items():
        graph.add_node(name)
        graph.add_edges_from((name, imported) for imported in _imports(name, tree))
    return graph
