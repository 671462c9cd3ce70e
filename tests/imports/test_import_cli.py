"""`fallback-resolver import`: whole or --partial, never over existing files without --force,
an exit code that says whether the result loads, and the counts a user reads first."""

from __future__ import annotations

import yaml

from resolver import load
from resolver.cli import main

GROUPED = {
    "model_list": [
        {
            "model_name": "gpt-4o",
            "litellm_params": {"model": "openai/gpt-4o", "weight": 3, "rpm": 100},
        },
        {
            "model_name": "gpt-4o",
            "litellm_params": {
                "model": "azure/gpt-4o-eu",
                "api_base": "os.environ/AZURE_EU_BASE",
                "api_key": "os.environ/AZURE_EU_KEY",
                "weight": 1,
                "tpm": 50000,
            },
        },
        {"model_name": "small", "litellm_params": {"model": "groq/llama-3.1-8b-instant"}},
        {"model_name": "long", "litellm_params": {"model": "gemini/gemini-2.5-flash"}},
    ],
    "router_settings": {
        "fallbacks": [{"gpt-4o": ["small"]}],
        "context_window_fallbacks": [{"gpt-4o": ["long"]}],
    },
}


def run(tmp_path, config, *flags):
    source = tmp_path / "litellm.yaml"
    source.write_text(yaml.safe_dump(config))
    return main(["import", "--from", "litellm", str(source), "-o", str(tmp_path / "out"), *flags])


def test_a_whole_import_of_groups_prefixes_and_lists_loads_as_written(
    tmp_path, capsys, monkeypatch
):
    """Groups with weights and limits, vendors named by prefix and os.environ/ references
    import whole (exit 0), and load: the group's weights, the deployments' limits, the
    registry's endpoints and the context-window edge taken only on context_window."""
    assert run(tmp_path, GROUPED) == 0
    err = capsys.readouterr().err
    assert "4 of 4 deployments have a base URL or a known vendor prefix" in err
    assert "it reads AZURE_EU_BASE" in err
    written = "".join(p.read_text() for p in (tmp_path / "out").rglob("*.yaml"))
    assert "${oc.env:AZURE_EU_BASE}/openai/v1" in written
    monkeypatch.setenv("AZURE_EU_BASE", "https://eu.example.openai.azure.com")
    r = load(env="imported", config_dirs=[tmp_path / "out"])
    group = r.groups["gpt-4o"]
    assert group.strategy == "weighted"
    assert [(m.id, m.weight) for m in group.members] == [("gpt-4o-1", 3.0), ("gpt-4o-2", 1.0)]
    assert r.providers["gpt-4o-1"].base_url == "https://api.openai.com/v1"
    assert r.providers["gpt-4o-1"].rpm == 100
    assert r.providers["gpt-4o-2"].base_url == "https://eu.example.openai.azure.com/openai/v1"
    assert (r.providers["gpt-4o-2"].api_key_env, r.providers["gpt-4o-2"].tpm) == (
        "AZURE_EU_KEY",
        50000,
    )
    assert r.providers["small"].base_url == "https://api.groq.com/openai/v1"
    assert r.fallbacks == {"gpt-4o": ("small", "long")}
    assert r.edge_policy["gpt-4o"].trigger("long") == ("context_window",)
    assert "context_window" not in r.edge_policy["gpt-4o"].trigger("small")


def test_an_incomplete_import_writes_nothing_without_partial(tmp_path, capsys):
    """A file with a deployment that cannot be carried (bedrock) exits 2, says how many were
    carried and why not, and writes nothing; --partial writes the rest, which loads (exit 0)."""
    config = {
        "model_list": [
            *GROUPED["model_list"][2:3],
            {"model_name": "claude", "litellm_params": {"model": "bedrock/anthropic.claude-3"}},
        ],
        "router_settings": {"fallbacks": [{"small": ["claude"]}]},
    }
    assert run(tmp_path, config) == 2
    err = capsys.readouterr().err
    assert "1 of 2 deployments have a base URL or a known vendor prefix" in err
    assert "bedrock/ is refused" in err
    assert "pass --partial" in err
    assert not (tmp_path / "out").exists()
    assert run(tmp_path, config, "--partial") == 0
    assert not load(env="imported", config_dirs=[tmp_path / "out"]).fallbacks.get("small")


def test_an_existing_output_needs_force(tmp_path, capsys):
    """Importing again over files already there is refused (exit 2) unless --force."""
    small = {"model_list": GROUPED["model_list"][2:3]}
    assert run(tmp_path, small) == 0
    assert run(tmp_path, small) == 2
    assert "pass --force" in capsys.readouterr().err
    assert run(tmp_path, small, "--force") == 0


def test_a_self_loop_and_a_cycle_are_left_out_and_said_so(tmp_path, capsys):
    """LiteLLM accepts a model that falls back to itself and a cycle; the import leaves out the
    edges that make them, names them, and what is left loads."""
    config = {
        "model_list": [
            {"model_name": n, "litellm_params": {"model": f"groq/{n}"}} for n in ("a", "b", "c")
        ],
        "router_settings": {"fallbacks": [{"a": ["a", "b"]}, {"b": ["c"]}, {"c": ["a"]}]},
    }
    assert run(tmp_path, config, "--partial") == 0
    err = capsys.readouterr().err
    assert "'a' -> itself" in err
    assert "closes the cycle" in err
    r = load(env="imported", config_dirs=[tmp_path / "out"])
    assert sum(len(t) for t in r.fallbacks.values()) == 2


def test_a_wildcard_is_refused_by_name(tmp_path, capsys):
    """A wildcard model never becomes a literal model id."""
    config = {"model_list": [{"model_name": "*", "litellm_params": {"model": "openai/*"}}]}
    assert run(tmp_path, config) == 2
    assert "wildcard" in capsys.readouterr().err
