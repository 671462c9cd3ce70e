"""The package's imports run one way: no module of resolver/ imports, however indirectly, a
module that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import resolver

PACKAGE = Path(resolver.__file__).parent


def _imports(path: Path) -> set[str]:
    """The resolver modules that ``path`` imports, at module level or inside functions (a lazy
    import is still an edge: it runs), leaving out imports made only for type checkers and
    those of an ``if __name__ == "__main__":`` block (they run only in the copy ``python -m``
    executes, never when the module is imported, so they close no circle)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If)
        and (
            "TYPE_CHECKING" in ast.unparse(block.test)
            or ast.unparse(block.test) == "__name__ == '__main__'"
        )
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:  # from . import x
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("resolver."):
            found.add(node.module.split(".")[1])  # type: ignore[union-attr]
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("resolver."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {p.stem: p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return {name: _imports(path) & modules.keys() - {name} for name, path in modules.items()}


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path that ends where it started, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_resolver_modules_import_without_circles():
    """No module of resolver/ imports, directly or through others, a module that imports it."""
    graph = _graph()
    assert {"health", "stores", "resolve", "execute"} <= graph.keys()
    circle = _circle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_lookups_do_not_import_execution():
    """Lookups (resolve) and the health protocol import neither execution, HTTP nor Redis."""
    graph = _graph()
    assert not graph["resolve"] & {"execute", "http", "default"}
    assert not graph["health"] & {"redis_health", "stores"}
    assert graph["redis_health"] & {"health"}
