"""Only the seam module (resolver/_hydra.py) touches Hydra's or OmegaConf's private names, so
that a new Hydra release that moves one breaks that module alone."""

from __future__ import annotations

import ast
from pathlib import Path

import resolver

PACKAGE = Path(resolver.__file__).resolve().parent
SEAM = "_hydra.py"
LIBRARIES = ("hydra", "omegaconf")


def _private(dotted: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))


def private_uses(source: str) -> list[str]:
    """Private Hydra/OmegaConf names a module imports, or reaches as an attribute of a name it
    imported from those libraries (``ConfigSource._get_header_dict``)."""
    tree = ast.parse(source)
    found: list[str] = []
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    imported.add((alias.asname or alias.name).split(".")[0])
                    if _private(alias.name):
                        found.append(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] not in LIBRARIES:
                continue
            for alias in node.names:
                imported.add(alias.asname or alias.name)
                if _private(f"{node.module}.{alias.name}"):
                    found.append(f"{node.module}.{alias.name}")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported
            and _private(node.attr)
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_module_but_the_seam_uses_a_private_hydra_or_omegaconf_name() -> None:
    """Every module of resolver/ other than the seam uses public Hydra and OmegaConf names only."""
    uses = {
        path.name: private_uses(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.glob("*.py"))
        if path.name != SEAM
    }
    assert {name: found for name, found in uses.items() if found} == {}


def test_the_check_sees_each_way_of_reaching_a_private_name() -> None:
    """The check finds a private module, a private name and a private attribute."""
    source = (
        "from hydra._internal.defaults_list import create_defaults_list\n"
        "from omegaconf import _utils\n"
        "import hydra._internal.config_repository\n"
        "from hydra.plugins.config_source import ConfigSource\n"
        "ConfigSource._get_header_dict('')\n"
    )
    assert private_uses(source) == [
        "hydra._internal.defaults_list.create_defaults_list",
        "omegaconf._utils",
        "hydra._internal.config_repository",
        "ConfigSource._get_header_dict",
    ]


def test_the_seam_lists_every_private_name_it_uses() -> None:
    """Each private name the seam uses is named in its docstring, with its reason."""
    source = (PACKAGE / SEAM).read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source)) or ""
    names = {use.rsplit(".", 1)[-1] for use in private_uses(source)}
    assert sorted(name for name in names if name not in doc) == []
