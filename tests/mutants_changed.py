"""Print mutmut name patterns for the functions a change touched, for a quick mutation run.

    mutmut run --max-children 2 $(python tests/mutants_changed.py origin/main)

Lines added or changed since BASE (default ``main``) in the modules listed under
``[tool.mutmut] only_mutate`` are mapped to the function or method around them, and each is
printed as the glob mutmut uses for that function's mutants (``resolver.execute.x_name*`` for
a function, ``resolver.execute.xǁClassǁname*`` for a method). Nothing is printed when no
mutated module changed; check for that before calling mutmut, which runs everything when given
no names.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.M)


def changed_lines(base: str, path: str) -> set[int]:
    diff = subprocess.run(
        ["git", "diff", "-U0", base, "--", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines: set[int] = set()
    for match in HUNK.finditer(diff):
        start, count = int(match[1]), int(match[2] or 1)
        lines.update(range(start, start + count))
    return lines


def patterns(path: str, lines: set[int]) -> set[str]:
    module = path.removesuffix(".py").replace("/", ".")
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        scopes: list[tuple[ast.AST, str]] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            scopes.append((node, f"x_{node.name}"))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    scopes.append((item, f"x\u01c1{node.name}\u01c1{item.name}"))
        for scope, mangled in scopes:
            span = range(scope.lineno, (scope.end_lineno or scope.lineno) + 1)
            if lines.intersection(span):
                found.add(f"{module}.{mangled}__mutmut_*")
    return found


def main(argv: list[str]) -> int:
    base = argv[1] if len(argv) > 1 else "main"
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names: set[str] = set()
    for path in config["tool"]["mutmut"]["only_mutate"]:
        lines = changed_lines(base, path)
        if lines:
            names |= patterns(path, lines)
    print("\n".join(sorted(names)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
