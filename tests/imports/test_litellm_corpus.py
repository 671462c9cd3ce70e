"""`import --from litellm` on 23 public configs nobody here wrote: every deployment is carried
or named with its reason, every group whose vendors speak the OpenAI protocol is usable after
import, and the tree written loads."""

from __future__ import annotations

import re

import pytest
import yaml

from resolver import load
from resolver.export.from_litellm import from_litellm, write

from .conftest import CORPUS, variables

assert len(CORPUS) >= 12, "the corpus of real LiteLLM configs is missing"


def _ids(path):
    return path.name.split("__")[1]


@pytest.mark.parametrize("path", CORPUS, ids=_ids)
def test_every_deployment_is_carried_or_named_and_the_tree_loads(path, tmp_path):
    """Each deployment of the file is either imported or named by its position in model_list;
    the written tree loads; each group and each model is callable under its LiteLLM name."""
    text = path.read_text(encoding="utf-8")
    original = yaml.safe_load(text)
    if "model_list" not in original:
        pytest.skip("an include-only file: nothing to import on its own")
    imported = from_litellm(text, source=str(path), env="corpus")
    deployments = original["model_list"]
    named = {
        int(i)
        for line in imported.not_carried
        for group in re.findall(r"^model_list\[([\d, ]+)\] \(", line)
        for i in group.split(", ")
    }
    assert imported.carried + len(named) == len(deployments), imported.not_carried
    if not imported.carried:
        return
    write(imported, tmp_path / "conf")
    with variables(imported.variables):
        r = load(env="corpus", config_dirs=[tmp_path / "conf"])
    dropped_names = {deployments[i]["model_name"] for i in named}
    for entry in deployments:
        name = entry["model_name"]
        if name not in dropped_names:
            assert name in r.nodes, name
            assert r.nodes[name].enabled
    for written in ("fallbacks/corpus.yaml", "env/corpus.yaml"):  # the headers name the file
        assert str(path) in imported.files[written].splitlines()[1]


@pytest.mark.parametrize("path", CORPUS, ids=_ids)
def test_an_imported_key_variable_is_a_reference_never_its_value(path, tmp_path, monkeypatch):
    """With every os.environ/ variable of the file set to a key-shaped value, no written file
    holds a value: each is named as a variable, or as ${oc.env:...}."""
    text = path.read_text(encoding="utf-8")
    names = set(re.findall(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)", text))
    for name in names:
        monkeypatch.setenv(name, f"sk-live-{name.lower()}-0123456789abcdef")
    if "model_list" not in yaml.safe_load(text):
        return
    imported = from_litellm(text, source=str(path), env="corpus")
    written = "".join(imported.files.values())
    assert "sk-live-" not in written
    for line in imported.not_carried + imported.notes:
        assert "sk-live-" not in line
