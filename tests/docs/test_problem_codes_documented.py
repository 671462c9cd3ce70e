"""Every problem code the package can emit is documented on the docs' Validation page, found by
reading the package's source rather than from a list kept by hand: a new code without a word on
that page fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import resolver

VALIDATION_PAGE = Path(__file__).resolve().parents[2] / "docs" / "validation.md"
CODE = re.compile(r"[a-z]+(?:-[a-z0-9]+)+")
EMITTERS = {"Problem", "add", "problem", "_problem", "bad"}


def _constants(tree: ast.Module) -> dict[str, str]:
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


def emitted_codes() -> dict[str, str]:
    """code -> the module emitting it: the first argument (or ``code=``) of every call to
    Problem, Findings.add and the like, a literal or a module constant."""
    codes: dict[str, str] = {}
    package = Path(resolver.__file__).parent
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in package.rglob("*.py")}
    constants = {name: v for tree in trees.values() for name, v in _constants(tree).items()}
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in EMITTERS:
                continue
            args = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "code")]
            for arg in args:
                value = arg.value if isinstance(arg, ast.Constant) else None
                if isinstance(arg, ast.Name):
                    value = constants.get(arg.id)
                if isinstance(value, str) and CODE.fullmatch(value):
                    codes[value] = path.name
    return codes


def test_the_scan_finds_the_codes_it_should():
    """The scan itself sees codes emitted both ways (a literal, a constant): it cannot pass by
    finding nothing."""
    codes = emitted_codes()
    assert {"unknown-target", "env-without-header", "yaml-too-large", "bad-value"} <= set(codes)
    assert len(codes) > 40


def test_every_code_is_on_the_validation_page():
    """Each code appears on docs/validation.md in backquotes."""
    page = VALIDATION_PAGE.read_text(encoding="utf-8")
    missing = {c: m for c, m in emitted_codes().items() if f"`{c}`" not in page}
    assert not missing, f"codes docs/validation.md does not document: {missing}"
