"""`fallback-resolver export` and `import --from litellm`: what each format carries, what it
reports instead of dropping, and that a LiteLLM export imports back to the same chains."""

from __future__ import annotations

import json

import pytest
import yaml

from resolver import load, load_snapshot
from resolver.cli import main
from resolver.export import FORMATS, export
from resolver.export.from_litellm import from_litellm, write

ENVS = ("dev", "staging", "prod")
SECRET = "sk-live-do-not-print-0123456789"
ALL_KEYS = {"TOGETHER_API_KEY": "t", "SYNTHETIC_API_KEY": "s"}
KEY_SETS = ({}, ALL_KEYS, {"TOGETHER_API_KEY": "t"}, {"SYNTHETIC_API_KEY": "s"})


def chains(r, environ):
    enabled = (p.id for p in r.providers.values() if p.enabled)
    return {m: [p.id for p in r.get_fallback_chain(m, environ=environ)] for m in enabled}


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_names_key_variables_and_never_prints_a_key(fmt, capsys, monkeypatch, tmp_path):
    """With a key set in the environment, no export writes or prints its value; the LiteLLM,
    Portkey and TypeScript exports name the variable instead."""
    monkeypatch.setenv("TOGETHER_API_KEY", SECRET)
    monkeypatch.setenv("SYNTHETIC_API_KEY", SECRET)
    out = tmp_path / "out"
    assert main(["export", "--format", fmt, "-o", str(out)]) == 0
    text = out.read_text()
    printed = capsys.readouterr()
    assert SECRET not in text + printed.out + printed.err
    if fmt == "litellm":
        assert "api_key: os.environ/TOGETHER_API_KEY" in text
    elif fmt != "json-schema":
        assert "TOGETHER_API_KEY" in text


def test_litellm_export_writes_chains_cooldown_and_retries():
    """The LiteLLM config has one deployment per enabled model and router_settings with each
    chain in order, the context-window rule, cooldowns from policy.health and retries."""
    r = load(
        env="prod",
        overrides=[
            "++fallbacks={deepseek-r1-0528-syn: [deepseek-r1, deepseek-v3.1]}",
            "++models={deepseek-r1-0528-syn: {context_window: 64000}, "
            "deepseek-r1: {context_window: 32000}}",
            "policy.retries=1",
            "policy.health.failure_threshold=5",
            "policy.health.cooldown_s=30",
        ],
    )
    config = yaml.safe_load(export(r, "litellm").text)
    names = [d["model_name"] for d in config["model_list"]]
    assert names == sorted(p.id for p in r.providers.values() if p.enabled)
    deployment = config["model_list"][names.index("deepseek-r1-0528-syn")]["litellm_params"]
    assert deployment["model"] == "openai/hf:deepseek-ai/DeepSeek-R1-0528"
    assert deployment["api_base"] == r.providers["deepseek-r1-0528-syn"].base_url
    settings = config["router_settings"]
    assert {"deepseek-r1-0528-syn": ["deepseek-r1", "deepseek-v3.1"]} in settings["fallbacks"]
    # deepseek-r1's window is smaller: after a context-window failure it is never tried.
    assert {"deepseek-r1-0528-syn": ["deepseek-v3.1"]} in settings["context_window_fallbacks"]
    assert settings["num_retries"] == 1
    assert settings["allowed_fails"] == 4
    assert settings["cooldown_time"] == 30


def test_what_litellm_cannot_express_is_reported_at_the_top_and_on_stderr(capsys):
    """A per-edge error-class rule, the cost cap and a chain LiteLLM would walk in another
    order are listed as comments at the top of the file and as warnings on stderr."""
    args = [
        "export",
        "--format",
        "litellm",
        "++edge_policy={kimi-k2-thinking-syn: {fallback_on: [server]}}",
        "++fallbacks={deepseek-r1-0528-syn: [deepseek-r1, kimi-k2-instruct], "
        "deepseek-r1: [deepseek-v3.1]}",
        "policy.max_attempts=5",
    ]
    assert main(args) == 0
    printed = capsys.readouterr()
    header = [line for line in printed.out.splitlines() if line.startswith("#")]
    for expected in (
        "kimi-k2-thinking-syn falls back only on server",
        "cost cap 2x (warn)",
        "deepseek-r1-0528-syn: LiteLLM tries deepseek-r1, deepseek-v3.1, kimi-k2-instruct",
    ):
        assert any(expected in line for line in header), expected
        assert expected in printed.err


def test_an_edge_over_the_cost_cap_is_left_out_and_said_so():
    """With cost.action=skip, an edge the resolver never uses is not written to any runtime
    and each export says which edge and why."""
    r = load(
        env="prod",
        overrides=[
            "++fallbacks={deepseek-v3.1: [deepseek-r1]}",
            "policy.cost.action=skip",
        ],
    )
    for fmt in ("litellm", "portkey", "ts"):
        result = export(r, fmt)
        note = next(n for n in result.unsupported if n.startswith("deepseek-v3.1 -> deepseek-r1"))
        assert "over the cap" in note
        assert note in result.text
    portkey = json.loads(export(r, "portkey").text)
    assert "deepseek-v3.1" not in portkey["configs"]


def test_portkey_export_is_a_fallback_config_per_model_with_status_codes():
    """Each Portkey config tries the model itself and then its chain, with the vendor's model
    string, and falls back on the statuses of the source's error classes."""
    r = load(
        env="staging",
        overrides=["++edge_policy={kimi-k2.5-syn: {fallback_on: [rate_limit, timeout]}}"],
    )
    configs = json.loads(export(r, "portkey").text)["configs"]
    config = configs["kimi-k2.5-syn"]
    assert config["strategy"] == {"mode": "fallback", "on_status_codes": [408, 429, 504]}
    models = [t["override_params"]["model"] for t in config["targets"]]
    assert models == [r.providers["kimi-k2.5-syn"].model, r.providers["kimi-k2-instruct"].model]
    # A key is named, never written: an object the gateway refuses until the sender fills it.
    assert [t["api_key"] for t in config["targets"]] == [
        {"env": "SYNTHETIC_API_KEY"},
        {"env": "TOGETHER_API_KEY"},
    ]
    assert 500 in configs["deepseek-r1-0528-syn"]["strategy"]["on_status_codes"]


def test_export_from_a_snapshot_equals_export_from_the_composed_config(tmp_path, capsys):
    """`export --snapshot FILE` writes exactly what exporting the composed env writes."""
    snap = tmp_path / "prod.json"
    assert main(["compile", "--env", "staging", "-o", str(snap)]) == 0
    for fmt in ("litellm", "portkey", "ts"):
        capsys.readouterr()
        assert main(["export", "-f", fmt, "--snapshot", str(snap)]) == 0
        from_snapshot = capsys.readouterr().out
        assert from_snapshot == export(load_snapshot(snap), fmt).text
        assert from_snapshot == export(load(env="staging"), fmt).text


def test_snapshot_export_refuses_configuration_flags(tmp_path, capsys):
    """A snapshot is exported as compiled: --env with --snapshot is a usage error (exit 2)."""
    snap = tmp_path / "prod.json"
    assert main(["compile", "-o", str(snap)]) == 0
    assert main(["export", "-f", "ts", "--snapshot", str(snap), "--env", "dev"]) == 2
    assert "--snapshot exports the snapshot as it was compiled" in capsys.readouterr().err


@pytest.mark.parametrize("env", ENVS)
def test_litellm_export_imports_back_to_the_same_chains(env, tmp_path):
    """Exporting a shipped env to LiteLLM and importing it gives a config dir whose env has
    the same chain for every model, whichever keys are set, and nothing left behind."""
    r = load(env=env)
    imported = from_litellm(export(r, "litellm").text, source="litellm.yaml", env="roundtrip")
    assert imported.not_carried == ()
    write(imported, tmp_path / "conf")
    again = load(env="roundtrip", config_dirs=[tmp_path / "conf"])
    for keys in KEY_SETS:
        assert chains(again, keys) == chains(r, keys)
    assert {p.id for p in again.providers.values()} == {
        p.id for p in r.providers.values() if p.enabled
    }


def test_import_never_copies_a_key_written_as_a_value(tmp_path, capsys):
    """A key written into the LiteLLM file is not imported, and the report names the
    deployment without repeating the key."""
    config = {
        "model_list": [
            {
                "model_name": "a",
                "litellm_params": {
                    "model": "openai/vendor/a",
                    "api_base": "http://127.0.0.1:9/v1",
                    "api_key": SECRET,
                },
            },
            {
                "model_name": "b",
                "litellm_params": {
                    "model": "openai/vendor/b",
                    "api_base": "http://127.0.0.1:9/v1",
                    "api_key": "os.environ/B_KEY",
                },
            },
        ],
        "router_settings": {"fallbacks": [{"a": ["b", "c"]}], "routing_strategy": "usage"},
    }
    source = tmp_path / "config.yaml"
    source.write_text(yaml.safe_dump(config))
    out = tmp_path / "conf"
    assert main(["import", "--from", "litellm", str(source), "-o", str(out), "--partial"]) == 0
    err = capsys.readouterr().err
    written = "".join(p.read_text() for p in out.rglob("*.yaml"))
    assert SECRET not in written + err
    assert "model_list[0].litellm_params.api_key: 'a' has its key written in the file" in err
    assert "'a' -> 'c', not an imported model" in err
    assert "router_settings.routing_strategy: 'usage' has no equivalent" in err
    r = load(env="imported", config_dirs=[out])
    assert r.providers["a"].api_key_env is None
    assert r.providers["b"].api_key_env == "B_KEY"
    assert r.fallbacks["a"] == ("b",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model_list: [\n", "not valid YAML (line"),
        ("router_settings: {}\n", "model_list: a LiteLLM config needs a model_list"),
        (
            "model_list:\n- model_name: a\n- litellm_params: {model: openai/x}\n",
            "model_list[0].litellm_params.model: deployment 'a' names no model",
        ),
    ],
)
def test_import_of_a_bad_file_exits_2_naming_the_file_and_key(text, expected, tmp_path, capsys):
    """A file that is not a LiteLLM config fails with exit 2, its path and the key at fault,
    and writes nothing."""
    source = tmp_path / "config.yaml"
    source.write_text(text)
    out = tmp_path / "conf"
    assert main(["import", "--from", "litellm", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(source) in err
    assert expected in err
    assert "Traceback" not in err
    assert not out.exists()


def test_import_lists_every_problem_of_the_file_at_once(tmp_path):
    """Two broken deployments are both reported in one error."""
    from resolver import ConfigError

    text = "model_list:\n- {model_name: a}\n- {litellm_params: {model: openai/x}}\n"
    with pytest.raises(ConfigError) as caught:
        from_litellm(text, source="two.yaml")
    assert [p.key for p in caught.value.problems] == [
        "model_list[0].litellm_params.model",
        "model_list[1]",
    ]


def test_import_reports_where_litellm_would_walk_further_than_the_imported_chain(tmp_path):
    """A LiteLLM file whose backup has fallbacks of its own imports as flat chains, and the
    report says what LiteLLM would also have tried."""
    deployments = [
        {"model_name": m, "litellm_params": {"model": f"openai/x/{m}", "api_base": "http://h/v1"}}
        for m in ("a", "b", "c")
    ]
    config = {
        "model_list": deployments,
        "router_settings": {"fallbacks": [{"a": ["b"]}, {"b": ["c"]}]},
    }
    imported = from_litellm(yaml.safe_dump(config), source="c.yaml")
    assert any("a: LiteLLM tries b, c; the imported chain is b" in n for n in imported.notes)
    write(imported, tmp_path / "conf")
    r = load(env="imported", config_dirs=[tmp_path / "conf"])
    assert [p.id for p in r.static_chain("a")] == ["b"]


def test_a_malformed_file_with_a_key_in_it_keeps_no_trace_of_the_key(tmp_path):
    """The error for unparseable YAML neither says nor chains the parser's error, which quotes
    the file's text, key included."""
    from resolver import ConfigError

    text = f"model_list:\n- litellm_params: {{api_key: {SECRET}\n  model: [\n"
    with pytest.raises(ConfigError) as caught:
        from_litellm(text, source="broken.yaml")
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None
    assert SECRET not in str(error) + repr(error.args)
    assert error.problems[0].code == "malformed-yaml"
    assert error.problems[0].file == "broken.yaml"


def test_export_of_an_invalid_configuration_exits_2_and_writes_nothing(tmp_path, capsys):
    """An export never writes a file for a configuration that does not validate: exit 2 and
    the problem named, no traceback."""
    out = tmp_path / "litellm.yaml"
    args = ["export", "-f", "litellm", "-o", str(out), "++fallbacks={glm-4.6-syn: [nope]}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "unknown-target" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_export_never_asks_the_shared_health_store(monkeypatch, caplog):
    """With health kept in a Redis that is down, every export still writes the chains and
    never tries Redis: health is the runtime's state, not configuration."""
    monkeypatch.setenv("RESOLVER_REDIS_URL", "redis://127.0.0.1:1/0")
    r = load(env="prod", overrides=["policy.health.store=redis"])
    with caplog.at_level("WARNING", logger="resolver"):
        for fmt in ("litellm", "portkey", "ts"):
            assert "deepseek-r1" in export(r, fmt).text
    assert not [rec for rec in caplog.records if "unreachable" in rec.getMessage()]
