"""Nothing loads with a value the file did not mean: unfilled, null, non-finite or malformed
values, ids and URLs are errors naming the file; keys pasted as variable names are never echoed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import resolver
from resolver import ConfigError, Problem

MODEL = "{model: x/y, tier: budget, pricing: {prompt: 1, completion: 1}}"


def extra_vendor(config_tree, body: str, *, vendor: str = "") -> dict:
    """Load kwargs for the shipped tree plus a vendor file ``providers/extra.yaml``."""
    head = vendor or "base_url: http://127.0.0.1:1/v1\n  api_key_env: EXTRA_API_KEY\n"
    root = config_tree({"providers/extra.yaml": f"extra:\n  {head}  models:\n{body}"})
    return {"config_dirs": [root], "overrides": ["providers=[synthetic,together,extra]"]}


def errors_of(**kwargs) -> tuple[Problem, ...]:
    with pytest.raises(ConfigError) as info:
        resolver.load(**kwargs)
    return info.value.errors


def one(problems: tuple[Problem, ...], code: str) -> Problem:
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, [str(p) for p in problems]
    return found[0]


@pytest.mark.parametrize(
    ("field", "code", "key"),
    [
        ("model: ???", "missing-value", "model"),
        ("enabled:", "null-value", "enabled"),
        ("timeout_s: null", "null-value", "timeout_s"),
        ("reasoning: ~", "null-value", "reasoning"),
        ("pricing: {prompt: .nan, completion: 1}", "bad-value", "pricing.prompt"),
        ("pricing: {prompt: 1, completion: .inf}", "bad-value", "pricing.completion"),
        ("base_url: not a url", "bad-value", "base_url"),
        ("base_url: ftp://files.example.com/v1", "bad-value", "base_url"),
        ("base_url: 'https://'", "bad-value", "base_url"),
        ("base_url:", "null-value", "base_url"),
    ],
)
def test_bad_model_value_is_an_error_at_its_file(config_tree, field: str, code: str, key: str):
    """An unfilled ???, a null, a non-finite price or a non-http(s) URL is an error at the key,
    never the default or the literal text."""
    fields = {"model": "x/y", "tier": "budget", "pricing": "{prompt: 1, completion: 1}"}
    name, _, value = field.partition(":")
    fields |= {"disabled_reason": "parked", name: value.strip()}
    body = "    m1:\n" + "".join(f"      {k}: {v}\n" for k, v in fields.items())
    p = one(errors_of(**extra_vendor(config_tree, body)), code)
    assert p.key == f"providers.extra.models.m1.{key}"
    assert p.file is not None
    assert p.file.endswith("providers/extra.yaml")
    assert p.hint


def test_null_in_an_env_file_is_not_the_default(config_tree) -> None:
    """`max_attempts: null` in an env file is an error, not the policy's default of 3."""
    root = config_tree({"env/nulls.yaml": "# @package _global_\npolicy:\n  max_attempts: null\n"})
    p = one(errors_of(env="nulls", config_dirs=[root]), "null-value")
    assert p.key == "policy.max_attempts"
    assert "delete the key" in (p.hint or "")


def test_a_missing_value_filled_by_an_env_loads(config_tree) -> None:
    """A ??? in a vendor file that an env file fills loads with the env's value."""
    body = (
        "    m1:\n      model: ???\n      tier: budget\n      pricing: {prompt: 1, completion: 1}\n"
    )
    kwargs = extra_vendor(config_tree, body)
    env = "# @package _global_\nproviders:\n  extra:\n    models:\n      m1: {model: org/m1}\n"
    (kwargs["config_dirs"][0] / "env").mkdir()
    (kwargs["config_dirs"][0] / "env" / "filled.yaml").write_text(env)
    assert resolver.load(env="filled", **kwargs).providers["m1"].model == "org/m1"


@pytest.mark.parametrize(
    ("key", "code", "shown"),
    [
        ("yes", "bad-model-id", "model id True"),
        ("''", "bad-model-id", "model id ''"),
        ("'acme-1 '", "bad-model-id", "model id 'acme-1 '"),
        ("2024", "bad-model-id", "model id 2024"),
        ("~", "bad-key", "is null"),
    ],
)
def test_model_id_that_is_not_plain_text_is_refused(
    config_tree, key: str, code: str, shown: str
) -> None:
    """A model id YAML reads as a boolean, null or number, or that is empty or padded, is an
    error naming the file."""
    p = one(errors_of(**extra_vendor(config_tree, f"    {key}: {MODEL}\n")), code)
    assert shown in p.message
    assert p.file is not None
    assert p.file.endswith("providers/extra.yaml")
    assert p.hint


SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c"


HEX_KEY = "f3" + "a9c1e7" * 10


@pytest.mark.parametrize(
    "value",
    [SECRET, HEX_KEY, "Ab3dEf9hIj2lMn4pQr6tUv", "together api key"],
    ids=["prefixed", "hex", "random", "spaces"],
)
def test_api_key_env_must_name_a_variable(config_tree, value: str) -> None:
    """An api_key_env that is not a plausible variable name is refused, shown masked."""
    vendor = f"base_url: http://127.0.0.1:1/v1\n  api_key_env: '{value}'\n"
    p = one(
        errors_of(**extra_vendor(config_tree, f"    m1: {MODEL}\n", vendor=vendor)), "bad-value"
    )
    assert p.key == "providers.extra.api_key_env"
    assert value not in str(p)
    assert f"{len(value)} characters" in p.message or "'***'" in p.message


@pytest.mark.parametrize("secret", [SECRET, HEX_KEY], ids=["prefixed", "hex"])
def test_a_pasted_key_is_never_echoed(config_tree, tmp_path, secret: str) -> None:
    """A key written as api_key_env (in a file or an override) appears in no error, exception
    chain, or output of validate, validate --json, show and table."""
    vendor = f"base_url: http://127.0.0.1:1/v1\n  api_key_env: {secret}\n"
    kwargs = extra_vendor(config_tree, f"    m1: {MODEL}\n", vendor=vendor)
    patch = f"++models={{deepseek-r1: {{api_key_env: {secret}}}}}"
    with pytest.raises(ConfigError) as info:
        resolver.load(**kwargs | {"overrides": [*kwargs["overrides"], patch]})
    error = info.value
    assert len([p for p in error.errors if p.key and p.key.endswith("api_key_env")]) == 2
    seen = [str(error), repr(error.args), str(error.__cause__), str(error.__context__)]
    base = ["--config-dir", str(kwargs["config_dirs"][0]), *kwargs["overrides"], patch]
    for args in (["validate"], ["validate", "--json"], ["show"], ["table"]):
        run = subprocess.run(
            [sys.executable, "-m", "resolver", *args, *base],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert run.returncode == 2, run.stderr
        seen += [run.stdout, run.stderr]
    assert not [text for text in seen if secret[4:] in text]


def test_password_in_the_health_url_of_a_file_warns(config_tree) -> None:
    """A Redis password written into a file warns (an error under strict) and says to use
    RESOLVER_REDIS_URL; the same URL from that variable does not warn."""
    url = "redis://:hunter22@127.0.0.1:6379/0"
    root = config_tree(
        {"env/pw.yaml": f"# @package _global_\npolicy:\n  health:\n    url: {url}\n"}
    )
    r = resolver.load(env="pw", config_dirs=[root], environ={})
    p = one(r.warnings, "password-in-file")
    assert p.key == "policy.health.url"
    assert p.file is not None
    assert p.file.endswith("env/pw.yaml")
    assert "RESOLVER_REDIS_URL" in (p.hint or "")
    assert "hunter22" not in str(p)
    strict = errors_of(env="pw", config_dirs=[root], environ={}, strict=True)
    assert one(strict, "password-in-file").severity == "error"
    from_env = resolver.load(environ={"RESOLVER_REDIS_URL": url})
    assert not [w for w in from_env.warnings if w.code == "password-in-file"]


def test_hops_past_max_depth_warn(config_tree) -> None:
    """An 8-hop acyclic chain under max_depth 2 warns once, naming the backups never reached."""
    body = "".join(f"    c{i}: {MODEL}\n" for i in range(9))
    edges = ", ".join(f"c{i}: [c{i + 1}]" for i in range(8))
    kwargs = extra_vendor(config_tree, body)
    kwargs["overrides"] += [f"++fallbacks={{{edges}}}", "policy.max_depth=2"]
    r = resolver.load(**kwargs, environ={"EXTRA_API_KEY": "k"})
    p = one(r.warnings, "beyond-depth")
    assert p.key == "fallbacks.c2[0]"
    assert "'c0'" in p.message
    assert "'c3', 'c4', 'c5', 'c6', 'c7', 'c8'" in p.message
    assert "max_depth=2" in p.message
    deep = resolver.load(**kwargs | {"overrides": [*kwargs["overrides"], "policy.max_depth=8"]})
    assert not [w for w in deep.warnings if w.code == "beyond-depth"]


def test_json_validate_reports_the_codes(config_tree, tmp_path) -> None:
    """`validate --json` lists the new error codes with their keys (exit 2, no traceback)."""
    body = f"    yes: {MODEL}\n    m2:\n      model: ???\n      tier: budget\n      pricing: ~\n"
    kwargs = extra_vendor(config_tree, body)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "resolver",
            "validate",
            "--json",
            "--config-dir",
            str(kwargs["config_dirs"][0]),
            *kwargs["overrides"],
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    problems = json.loads(run.stdout)["envs"][0]["problems"]
    found = {(p["code"], p["key"]) for p in problems}
    assert ("bad-model-id", "providers.extra.models[True]") in found
    assert ("missing-value", "providers.extra.models.m2.model") in found
    assert ("missing-field", "providers.extra.models.m2.pricing") in found
