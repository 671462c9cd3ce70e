"""Every URL of the configuration is parsed and checked when it is validated: a URL that the
code which uses it (redis-py, the HTTP client) would refuse or read differently is a located
bad-value, never a traceback at first use; and no password or credential query value it holds
reaches a message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.connection import parse_url

import resolver
from resolver import ConfigError
from resolver.cli import main

SECRET = "s3cr3t-Pa55"


def _env(own_tree: Path, body: str) -> None:
    (own_tree / "env" / "prod.yaml").write_text("# @package _global_\n" + body, encoding="utf-8")


def _redis(own_tree: Path, url: str) -> resolver.Resolver:
    _env(own_tree, f"policy:\n  health:\n    store: redis\n    url: {json.dumps(url)}\n")
    return resolver.load(config_path=own_tree, environ={})


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis://cache:70000/0", "Port out of range"),
        ("redis://cache:port/0", "Port could not be cast"),
        ("redis://cache:6379/zero", "is not a number"),
        ("redis://cache:6379/0?socket_timeout=soon", "socket_timeout"),
        ("redis://cache:6379/0 ", "trailing space"),
        ("redis:///0", "no host"),
        ("unix://", "socket's path"),
    ],
)
def test_a_redis_url_that_redis_would_refuse_or_misread_is_a_bad_value(own_tree, url, why):
    """Each is refused at load with the key and the reason, instead of redis-py's ValueError
    at first use (or a database silently ignored)."""
    with pytest.raises(ConfigError) as caught:
        _redis(own_tree, url)
    [problem] = caught.value.errors
    assert (problem.code, problem.key) == ("bad-value", "policy.health.url")
    assert why in problem.message
    assert problem.file is not None
    assert problem.file.endswith("env/prod.yaml")


@pytest.mark.parametrize(
    "url",
    [
        f"redis://cache/0?password={SECRET}",
        f"redis://user:{SECRET}@cache:99999/0",
        f"rediss://cache/0?db=1&Password={SECRET}",
    ],
)
def test_a_password_in_a_refused_or_accepted_redis_url_is_never_shown(own_tree, url, capsys):
    """The user:password@ form and the ?password= form are masked alike in every message."""
    try:
        r = _redis(own_tree, url)
        text = " ".join(str(w) for w in r.warnings) + repr(r.policy.health)
    except ConfigError as e:
        text = str(e)
    assert SECRET not in text
    assert "***" in text


def test_a_base_url_with_a_trailing_space_is_refused(own_tree):
    """'https://api.example/v1 ' is not kept with its space: it is a bad-value naming it."""
    _env(own_tree, "providers:\n  open:\n    base_url: 'https://api.example/v1 '\n")
    with pytest.raises(ConfigError) as caught:
        resolver.load(config_path=own_tree, environ={})
    [problem] = caught.value.errors
    assert problem.key == "providers.open.base_url"
    assert "trailing space" in problem.message


_HOSTS = st.sampled_from(["cache", "10.0.0.7", "[::1]", "[::1", "", "ca che", "cache\x1b[2J"])
_QUERY = st.sampled_from(["", "?db=1", f"?password={SECRET}", "?socket_timeout=x", "?db=one"])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scheme=st.sampled_from(["redis", "rediss", "unix", "http", "REDIS", ""]),
    userinfo=st.sampled_from(["", f"user:{SECRET}@", f":{SECRET}@"]),
    host=_HOSTS,
    port=st.one_of(st.just(""), st.integers(-1, 200_000).map(lambda p: f":{p}")),
    path=st.sampled_from(["", "/", "/0", "/15", "/x", "/run/redis.sock"]),
    query=_QUERY,
    pad=st.sampled_from(["", " ", "\t"]),
)
def test_a_redis_url_loads_only_when_redis_reads_it_as_written(
    own_tree, scheme, userinfo, host, port, path, query, pad
):
    """Any Redis URL either loads, and then redis-py (the code that uses it) parses it with the
    database written, or is one located bad-value; the password is never in the message."""
    url = f"{scheme}://{userinfo}{host}{port}{path}{query}{pad}"
    try:
        r = _redis(own_tree, url)
    except ConfigError as e:
        refused = e
    else:
        refused = None
    if refused is not None:
        [problem] = refused.errors
        assert (problem.code, problem.key) == ("bad-value", "policy.health.url")
        assert SECRET not in str(refused)
        return
    parsed = parse_url(r.policy.health.url.reveal())
    db = path.strip("/")
    if scheme != "unix" and db:
        assert parsed.get("db", 0) == int(db) or "db=" in query


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(
        ["api_key", "key", "token", "access_token", "password", "X-Api-Key", "sig"]
    ),
    where=st.sampled_from(["?{q}", "?model=x&{q}", "?{q}&v=1"]),
)
def test_a_base_url_with_a_credential_query_is_refused_on_every_way_out(
    own_tree: Path, name: str, where: str, tmp_path_factory: pytest.TempPathFactory
):
    """A base_url whose query carries a key (?api_key=..., &token=...) is refused as userinfo
    is: bad-value with the value masked, and `compile` writes no snapshot holding it."""
    query = where.format(q=f"{name}={SECRET}")
    url = f"http://127.0.0.1:9/v1{query}"
    line = f"providers.open.base_url='{url}'"
    with pytest.raises(ConfigError) as caught:
        resolver.load(config_path=own_tree, overrides=[line], environ={})
    [problem] = [p for p in caught.value.problems if p.key == "providers.open.base_url"]
    assert "carries credentials" in problem.message
    assert SECRET not in str(caught.value)
    out = tmp_path_factory.mktemp("snap") / "s.json"
    code = main(["compile", "--config-path", str(own_tree), "-o", str(out), line])
    assert code == 2
    assert not out.exists()
