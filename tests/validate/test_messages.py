"""Each validation problem a user meets reads as written here: its code, the key to fix, what
is wrong, and a hint that fixes it (the words are the interface of a config error)."""

from __future__ import annotations

from pathlib import Path

import pytest

import resolver
from resolver import ConfigError

REDIS_HINT = (
    "redis://host:port/db, with any password only in the environment: ${oc.env:RESOLVER_REDIS_URL}"
)
CASES = {
    "empty-namespace": (
        ["policy.health.namespace=''"],
        ("bad-value", "policy.health.namespace", "namespace must not be empty", None),
    ),
    "redis-without-url": (
        ["policy.health.store=redis", "policy.health.url=null"],
        (
            "missing-field",
            "policy.health.url",
            "store is redis but no url is set",
            "export RESOLVER_REDIS_URL=redis://host:6379/0, or set policy.health.url",
        ),
    ),
    "http-url-for-redis": (
        ["policy.health.url=http://user:pw@cache:6379/0"],
        (
            "bad-value",
            "policy.health.url",
            "expected a redis://, rediss:// or unix:// URL, got 'http://user:***@cache:6379/0'",
            REDIS_HINT,
        ),
    ),
    "scheme-without-slashes": (
        ["policy.health.url=redis"],
        (
            "bad-value",
            "policy.health.url",
            "expected a redis://, rediss:// or unix:// URL, got 'redis'",
            REDIS_HINT,
        ),
    ),
    "self-loop": (
        ["fallbacks.think=[think]"],
        (
            "self-loop",
            "fallbacks.think[0]",
            "'think' lists itself as its own backup",
            "remove it: a retry of the same model is policy, not a fallback",
        ),
    ),
    "unknown-source": (
        ["++fallbacks.thinc=[spare]"],
        (
            "unknown-source",
            "fallbacks.thinc",
            "fallbacks declared for 'thinc', which no vendor declares",
            "did you mean 'think'?",
        ),
    ),
    "base-url": (
        ["providers.open.base_url=ftp://mirror/v1"],
        (
            "bad-value",
            "providers.open.base_url",
            "expected an http:// or https:// URL with a host, got 'ftp://mirror/v1'",
            "e.g. https://api.example.com/v1",
        ),
    ),
    "empty-reason": (
        ["++edge_policy={think: {accept: [{warning: downgrade, reason: ' '}]}}"],
        (
            "bad-value",
            "edge_policy.think.accept[0].reason",
            "the reason must not be empty",
            "say why the warning is accepted",
        ),
    ),
}


@pytest.mark.parametrize(("overrides", "expected"), CASES.values(), ids=CASES.keys())
def test_the_problem_reads_as_documented(own_tree, overrides, expected) -> None:
    """A bad value is reported once, with its code, key, message and hint as written."""
    with pytest.raises(ConfigError) as info:
        resolver.load(config_path=own_tree, overrides=overrides, environ={"OWN_TREE_KEY": "x"})
    (problem,) = info.value.errors
    assert (problem.code, problem.key, problem.message, problem.hint) == expected
    assert problem.file == f"override {overrides[-1]!r}" or problem.file is not None


def test_a_key_pasted_as_the_variable_name_says_to_rotate_it(own_tree) -> None:
    """A key written where the name of its environment variable belongs is an error that masks
    it and says to name the variable and rotate the key."""
    key = "sk-" + "ab12" * 8
    with pytest.raises(ConfigError) as info:
        resolver.load(config_path=own_tree, overrides=[f"providers.keyed.api_key_env={key}"])
    (problem,) = info.value.errors
    assert (problem.code, problem.key) == ("bad-value", "providers.keyed.api_key_env")
    assert (
        problem.message
        == "expected the name of an environment variable, got 'sk-***' (35 characters)"
    )
    assert problem.hint == (
        "name the variable that holds the key (e.g. TOGETHER_API_KEY) and export the key "
        "there; if a key was written here, rotate it"
    )


def test_a_password_in_a_file_url_warns_with_the_way_out(config_tree, own_tree) -> None:
    """A Redis password written into a configuration file is a warning at its key whose hint
    shows how to keep the password in the environment instead."""
    (own_tree / "env" / "prod.yaml").write_text(
        "# @package _global_\npolicy:\n  health:\n    url: redis://:hunter22@cache:6379/0\n",
        encoding="utf-8",
    )
    r = resolver.load(config_path=own_tree, environ={})
    (warning,) = [w for w in r.warnings if w.code == "password-in-file"]
    assert (warning.severity, warning.key) == ("warning", "policy.health.url")
    assert Path(warning.file or "").name == "prod.yaml"
    assert warning.message == "the Redis URL carries a password written into a configuration file"
    assert warning.hint == (
        "keep the password out of files: leave url as ${oc.env:RESOLVER_REDIS_URL} and set "
        "RESOLVER_REDIS_URL, password included, in the service's environment"
    )
    assert "***" not in warning.hint  # nothing in the way out reads as a masked secret


def test_a_password_given_as_an_override_does_not_warn(own_tree) -> None:
    """A Redis URL with a password given on the command line (not written in a file) loads
    without the password warning, and the URL is used as given."""
    url = "redis://:hunter22@cache:6379/0"
    r = resolver.load(config_path=own_tree, overrides=[f"policy.health.url={url}"], environ={})
    assert not [w for w in r.warnings if w.code == "password-in-file"]
    assert r.policy.health.url is not None
    assert r.policy.health.url.reveal() == url


def test_a_model_declared_by_two_vendors_names_where_it_was_first(own_tree) -> None:
    """A model id declared by a second vendor is an error at the second declaration whose hint
    names the file of the first."""
    (own_tree / "providers" / "open.yaml").write_text(
        "open:\n  base_url: http://127.0.0.1:9/v1\n  api_key_env: null\n  models:\n"
        "    spare: {model: s, tier: budget, pricing: {prompt: 1, completion: 2}}\n"
        "    plain: {model: p2, tier: budget, pricing: {prompt: 1, completion: 2}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        resolver.load(config_path=own_tree, environ={})
    (problem,) = [p for p in info.value.errors if p.code == "duplicate-id"]
    assert (problem.code, problem.key) == ("duplicate-id", "providers.open.models.plain")
    assert problem.message == "model id 'plain' is declared by vendors 'keyed' and 'open'"
    first = str(own_tree / "providers" / "keyed.yaml")
    assert problem.hint == (
        "ids are global: rename one (e.g. plain-open) or remove it from one vendor "
        f"(first declared in {first})"
    )


def test_a_url_without_a_password_never_warns_of_one(own_tree) -> None:
    """A Redis URL in a file with no password loads without the password warning."""
    for url in ("redis://cache:6379/0", "rediss://cache/1", "unix:///run/redis.sock?db=2"):
        (own_tree / "env" / "prod.yaml").write_text(
            f"# @package _global_\npolicy:\n  health:\n    url: '{url}'\n", encoding="utf-8"
        )
        r = resolver.load(config_path=own_tree, environ={})
        assert not [w for w in r.warnings if w.code == "password-in-file"], url


def test_a_base_url_with_a_malformed_host_is_a_bad_value(own_tree) -> None:
    """A vendor URL whose host cannot be parsed (an unclosed IPv6 bracket) is reported like
    any other bad URL, not as a crash."""
    path = own_tree / "providers" / "open.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("http://127.0.0.1:9/v1", "'http://[::1/v1'"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        resolver.load(config_path=own_tree, environ={})
    (problem,) = info.value.errors
    assert (problem.code, problem.key) == ("bad-value", "providers.open.base_url")
    assert problem.message == (
        "expected an http:// or https:// URL with a host, got 'http://[::1/v1': Invalid IPv6 URL"
    )


def test_a_redis_url_is_judged_by_its_scheme_alone(own_tree) -> None:
    """A Redis URL whose query holds another ``://`` is accepted by its scheme, and used as
    written."""
    url = "redis://cache:6379/0?client_name=svc://a"
    r = resolver.load(config_path=own_tree, overrides=[f"policy.health.url='{url}'"], environ={})
    assert r.policy.health.url is not None
    assert r.policy.health.url.reveal() == url


def test_a_vendor_named_yes_is_told_to_quote_it(own_tree) -> None:
    """A vendor named with YAML's bare yes is an error that calls it a vendor name read as a
    boolean and says to quote it."""
    (own_tree / "providers" / "open.yaml").write_text(
        "yes:\n  base_url: http://127.0.0.1:9/v1\n  api_key_env: null\n  models: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        resolver.load(config_path=own_tree, environ={})
    problem = next(p for p in info.value.errors if p.code == "bad-model-id")
    assert problem.message == "vendor name True is a boolean"
    assert problem.hint == "YAML reads yes/no/on/off/true/false as booleans: quote the id"


def test_a_duplicate_names_the_file_that_added_the_first_model(own_tree) -> None:
    """When the first declaration of a model id was added to its vendor by an env file, the
    duplicate's hint names that env file, not the vendor's own file."""
    (own_tree / "env" / "prod.yaml").write_text(
        "# @package _global_\nproviders:\n  keyed:\n    models:\n"
        "      twin: {model: t2, tier: budget, pricing: {prompt: 1, completion: 2}}\n",
        encoding="utf-8",
    )
    path = own_tree / "providers" / "open.yaml"
    path.write_text(
        path.read_text(encoding="utf-8")
        + "    twin: {model: t3, tier: budget, pricing: {prompt: 1, completion: 2}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        resolver.load(config_path=own_tree, environ={})
    (problem,) = [p for p in info.value.errors if p.code == "duplicate-id"]
    assert problem.key == "providers.open.models.twin"
    assert (problem.hint or "").endswith(f"(first declared in {own_tree / 'env' / 'prod.yaml'})")
