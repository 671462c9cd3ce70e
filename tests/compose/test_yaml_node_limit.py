"""OmegaConf 2.4 caps the YAML nodes of one file (10,000 unless OMEGACONF_MAX_YAML_EXPANDED_NODES
says otherwise): a vendor file over the cap is refused naming the file and the variable that
lifts it, the variable is honoured, and a value OmegaConf refuses is named as the variable's
fault. OmegaConf 2.3 has no cap: the same files load."""

from __future__ import annotations

from pathlib import Path

import omegaconf
import pytest

import resolver
from resolver import ConfigError
from resolver.cli import main

VARIABLE = "OMEGACONF_MAX_YAML_EXPANDED_NODES"
CAPPED = int(omegaconf.__version__.split(".")[1]) >= 4
BULK = 1_500  # about 11 nodes each: well over 10,000 in one file


@pytest.fixture
def bulky(own_tree: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's own tree whose `open` vendor file lists BULK more models."""
    monkeypatch.delenv(VARIABLE, raising=False)
    vendor = own_tree / "providers" / "open.yaml"
    lines = [
        f"    bulk-{i}: {{model: b{i}, tier: budget, pricing: {{prompt: 1, completion: 2}}}}"
        for i in range(BULK)
    ]
    vendor.write_text(vendor.read_text(encoding="utf-8") + "\n".join(lines) + "\n", "utf-8")
    return own_tree


def test_a_vendor_file_over_the_cap_names_the_file_and_the_variable(bulky: Path, capsys) -> None:
    """Over OmegaConf 2.4's cap, the vendor file is one problem naming it and the variable, and
    `validate` exits 2; without a cap (OmegaConf 2.3) all its models load."""
    if not CAPPED:
        assert f"bulk-{BULK - 1}" in resolver.load(config_path=bulky).providers
        return
    with pytest.raises(ConfigError) as info:
        resolver.load(config_path=bulky)
    (problem,) = info.value.problems
    assert problem.code == "yaml-too-large"
    assert problem.file is not None
    assert problem.file.endswith("providers/open.yaml")
    assert problem.hint is not None
    assert VARIABLE in problem.hint
    assert "indentation" not in problem.hint
    assert main(["validate", "--config-path", str(bulky)]) == 2
    assert "providers/open.yaml" in capsys.readouterr().out


def test_raising_the_cap_loads_the_file(bulky: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the variable raised, every model of the large vendor file loads."""
    monkeypatch.setenv(VARIABLE, "100000")
    assert f"bulk-{BULK - 1}" in resolver.load(config_path=bulky).providers


@pytest.mark.parametrize("value", ["lots", "0"])
def test_a_value_omegaconf_refuses_names_the_variable(
    own_tree: Path, monkeypatch: pytest.MonkeyPatch, capsys, value: str
) -> None:
    """A cap OmegaConf 2.4 refuses is one problem naming the variable and its value, with exit 2
    and no traceback; OmegaConf 2.3 ignores the variable."""
    monkeypatch.setenv(VARIABLE, value)
    if not CAPPED:
        assert "spare" in resolver.load(config_path=own_tree).providers
        return
    with pytest.raises(ConfigError) as info:
        resolver.load(config_path=own_tree)
    (problem,) = info.value.problems
    assert problem.code == "bad-node-limit"
    assert VARIABLE in problem.message
    assert repr(value) in problem.message
    assert main(["validate", "--config-path", str(own_tree)]) == 2
    out = capsys.readouterr()
    assert VARIABLE in out.out
    assert "Traceback" not in out.err
