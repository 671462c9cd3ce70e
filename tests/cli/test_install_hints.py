"""What the package declares, and what its messages tell a user to install: every third-party
module resolver/ imports is declared (the core's in `dependencies`, an extra's in that extra),
and every hint naming an extra gives the form that works from a checkout first."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import resolver
from resolver import load
from resolver.errors import ConfigError, install_hint

PACKAGE = Path(resolver.__file__).parent
# The checkout's, not beside the package: CI tests an installed wheel.
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# Modules that exist for an extra (the gateway, shared health on Redis, the pytest plugin):
# their imports need only be declared in some extra.
FOR_AN_EXTRA = ("serve/", "redis_health.py", "redis_budgets.py", "pytest_plugin.py")


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _declared() -> tuple[set[str], set[str]]:
    """(distributions in `dependencies`, distributions in any extra)."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    core = {_name(Requirement(r).name) for r in project["dependencies"]}
    extras = {
        _name(Requirement(r).name)
        for requirements in project["optional-dependencies"].values()
        for r in requirements
    }
    return core, extras


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level module, imported at module level outside a try) for each import of a module
    outside the standard library and the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    eager = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in ("__future__", "resolver"):
                found.append((top, id(node) in eager))
    return found


def test_every_third_party_import_is_declared():
    """A module resolver/ imports at module level is in `dependencies` (PyYAML, OmegaConf, not
    only through Hydra); one imported lazily, or by a module that exists for an extra, is
    declared in `dependencies` or an extra."""
    core, extras = _declared()
    distributions = packages_distributions()
    undeclared = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for module, eager in _imports(path):
            names = {_name(d) for d in distributions.get(module, [module])}
            allowed = core if eager and not rel.startswith(FOR_AN_EXTRA) else core | extras
            if not names & allowed:
                undeclared.append(f"{rel}: {module}")
    assert undeclared == []
    assert {"pyyaml", "omegaconf", "hydra-core", "packaging"} <= core


@pytest.mark.parametrize("extra", ["gateway", "otel", "redis", "prometheus"])
def test_the_hint_of_each_extra_works_from_a_checkout(extra):
    """Each hint gives `pip install '.[EXTRA]'` (from a checkout) before the package's name,
    for an extra pyproject.toml declares."""
    hint = install_hint(extra)
    assert hint.startswith(f"pip install '.[{extra}]' from a checkout")
    assert f"'fallback-resolver[{extra}]'" in hint
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert extra in project["optional-dependencies"]


def test_redis_store_without_redis_py_hints_both_forms(monkeypatch):
    """policy.health.store=redis without redis-py: the problem's hint is the shared one."""
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.delitem(sys.modules, "resolver.redis_health", raising=False)
    with pytest.raises(ConfigError) as info:
        load(overrides=["policy.health.store=redis"])
    (problem,) = info.value.problems
    assert problem.hint is not None
    assert problem.hint.startswith(install_hint("redis"))


@pytest.mark.parametrize(
    ("code", "extra"),
    [
        (
            "sys.modules['starlette'] = None\n"
            "from resolver.cli import main\n"
            "raise SystemExit(main(['serve']))",
            "gateway",
        ),
        ("sys.modules['prometheus_client'] = None\nimport resolver.prometheus", "prometheus"),
        (
            "sys.modules['opentelemetry'] = None\n"
            "from resolver.tracing import instrument\n"
            "instrument()",
            "otel",
        ),
    ],
)
def test_a_missing_extra_is_named_with_both_forms(code, extra):
    """serve without the gateway extra (exit 2, one line), resolver.prometheus without
    prometheus_client and tracing without OpenTelemetry all end with the shared hint."""
    done = subprocess.run(
        [sys.executable, "-c", f"import sys\n{code}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (1, 2)
    assert done.stderr.splitlines()[-1].endswith(install_hint(extra))
    if extra == "gateway":
        assert (done.returncode, "Traceback" in done.stderr) == (2, False)
