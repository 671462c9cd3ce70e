"""The five arguable cases, decided as the README's table says: `hydra.*` in a file is an
error; `fallback_on: []` warns `dead-edge`; a vendor redeclared with other values warns
`vendor-redeclared`; an id not in NFC is refused; one key variable sent to two hosts warns
`key-to-other-host`. And a model's own `retries` is held to `max_attempts` as the policy's is."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

import resolver
from resolver import ConfigError
from resolver.cli import main

ENV_HEADER = "# @package _global_\n"


def _env(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / "env").mkdir(exist_ok=True)
    (tmp_path / "env" / f"{name}.yaml").write_text(ENV_HEADER + text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "text", ["hydra:\n  searchpath: [file:///tmp]\n", "hydra:\n  run: {dir: out}\n", "hydra: 1\n"]
)
def test_hydra_settings_in_an_env_are_an_error_naming_the_file(tmp_path: Path, text: str):
    """Any hydra key in an env file: one hydra-setting error naming the file, whose hint
    names the ways that do add a config tree."""
    _env(tmp_path, "sp", text)
    with pytest.raises(ConfigError) as caught:
        resolver.load("sp", config_dirs=[tmp_path], environ={})
    [problem] = [p for p in caught.value.problems if p.code == "hydra-setting"]
    assert str(problem.file).endswith("env/sp.yaml")
    assert "--config-dir" in str(problem.hint)


def test_an_empty_fallback_on_warns_with_the_count_of_dead_edges():
    """policy.fallback_on=[]: it loads, with one dead-edge warning at policy.fallback_on
    counting every edge of the shipped prod env; --strict refuses it."""
    r = resolver.load(overrides=["policy.fallback_on=[]"], environ={})
    edges = sum(len(t) for t in r.fallbacks.values())
    [warning] = [w for w in r.warnings if w.code == "dead-edge"]
    assert warning.key == "policy.fallback_on"
    assert f"so {edges} edge(s) are never used" in warning.message
    with pytest.raises(ConfigError):
        resolver.load(overrides=["policy.fallback_on=[]"], environ={}, strict=True)


def test_an_edge_policys_empty_fallback_on_is_named_at_its_source():
    """An edge policy's own fallback_on: [] warns at that source only."""
    source = next(s for s, t in resolver.load(environ={}).fallbacks.items() if t)
    r = resolver.load(overrides=[f"++edge_policy={{{source}: {{fallback_on: []}}}}"], environ={})
    [warning] = [w for w in r.warnings if w.code == "dead-edge"]
    assert warning.key == f"edge_policy.{source}.fallback_on"


def _with_second_vendor_file(tmp_path: Path, second: str) -> Path:
    shipped = resolver.compose.shipped_config_dir()
    config = (shipped / "config.yaml").read_text(encoding="utf-8")
    config = config.replace("[synthetic, together]", "[synthetic, together, more]")
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    (tmp_path / "providers").mkdir()
    (tmp_path / "providers" / "more.yaml").write_text(second, encoding="utf-8")
    return tmp_path


def test_a_vendor_redeclared_with_other_values_warns_naming_both_files(tmp_path: Path):
    """A second providers file giving together another base_url: a vendor-redeclared warning
    on that file, naming the first file and base_url; the later value wins, as Hydra merges."""
    tree = _with_second_vendor_file(tmp_path, "together:\n  base_url: https://other.example/v1\n")
    r = resolver.load(config_dirs=[tree], environ={})
    [warning] = [w for w in r.warnings if w.code == "vendor-redeclared"]
    assert str(warning.file).endswith("providers/more.yaml")
    assert "conf/providers/together.yaml" in warning.message
    assert "base_url" in warning.message
    assert r.providers["kimi-k2-instruct"].base_url == "https://other.example/v1"


def test_a_second_file_that_only_adds_models_says_nothing(tmp_path: Path):
    """A second providers file adding a model to together: no warning, and the model is
    there with together's URL."""
    tree = _with_second_vendor_file(
        tmp_path,
        "together:\n  models:\n    extra: {model: x/extra, tier: budget, "
        "pricing: {prompt: 1, completion: 1}}\n",
    )
    r = resolver.load(config_dirs=[tree], environ={})
    assert not [w for w in r.warnings if w.code == "vendor-redeclared"]
    assert r.providers["extra"].base_url == r.providers["kimi-k2-instruct"].base_url


def test_an_id_not_in_nfc_is_refused_and_a_lookup_says_it_only_looks_the_same(
    tmp_path: Path, capsys
):
    """A model id written with a separate accent (NFD) is bad-model-id, naming the file; the
    NFC id loads, and asking for its NFD form says the suggestion only looks the same."""
    nfc = "caf\u00e9"
    nfd = unicodedata.normalize("NFD", nfc)

    def env_with(model_id: str) -> Path:
        return _env(
            tmp_path,
            "cafe",
            f"providers:\n  together:\n    models:\n      {model_id}: {{model: x/cafe, "
            "tier: budget, pricing: {prompt: 1, completion: 1}}\n",
        )

    with pytest.raises(ConfigError) as caught:
        resolver.load("cafe", config_dirs=[env_with(nfd)], environ={})
    [problem] = [p for p in caught.value.problems if p.code == "bad-model-id"]
    assert "NFC" in problem.message
    assert str(problem.file).endswith("env/cafe.yaml")
    assert nfc in resolver.load("cafe", config_dirs=[env_with(nfc)], environ={}).providers
    assert main(["explain", nfd, "--env", "cafe", "--config-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"did you mean '{nfc}'?" in err
    assert "looks the same" in err


def test_one_key_variable_sent_to_two_hosts_warns_at_both_vendors():
    """synthetic given TOGETHER_API_KEY: a key-to-other-host warning at each vendor, naming
    both hosts; the shipped config has none."""
    assert not [w for w in resolver.load(environ={}).warnings if w.code == "key-to-other-host"]
    override = "providers.synthetic.api_key_env=TOGETHER_API_KEY"
    r = resolver.load(overrides=[override], environ={})
    found = {w.key: w for w in r.warnings if w.code == "key-to-other-host"}
    assert set(found) == {"providers.synthetic.api_key_env", "providers.together.api_key_env"}
    assert found["providers.synthetic.api_key_env"].file == f"override {override!r}"
    assert "api.together.xyz" in found["providers.synthetic.api_key_env"].message


@pytest.mark.parametrize("retries", [3, 4, 10])
def test_a_models_retries_beyond_max_attempts_is_refused(retries: int):
    """A model's own retries >= policy.max_attempts (3): bad-value at that model's retries,
    naming the override that set it; 2 loads."""
    line = f"++models={{kimi-k2-instruct: {{retries: {retries}}}}}"
    with pytest.raises(ConfigError) as caught:
        resolver.load(overrides=[line], environ={})
    [problem] = [p for p in caught.value.problems if str(p.key).endswith(".retries")]
    assert problem.key == "providers.together.models.kimi-k2-instruct.retries"
    assert problem.file == f"override {line!r}"
    ok = resolver.load(overrides=["++models={kimi-k2-instruct: {retries: 2}}"], environ={})
    assert ok.providers["kimi-k2-instruct"].retries == 2
