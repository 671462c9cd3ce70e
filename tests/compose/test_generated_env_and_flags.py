"""The configuration's rules hold on the surfaces beyond its files: the environment variables
the package reads, and the values of --env and --config-dir. Whatever hostile text they hold
(control and bidirectional characters, look-alikes, a BOM, spaces, huge values), the command
exits 0 or 2, never with a traceback; nothing it prints carries a raw control character; and a
password given in a variable is never printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolver.cli import main

pytestmark = pytest.mark.slow  # long property runs: `pytest -m slow`, and CI

HOSTILE = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(
            ["a", "-", "/", ".", " ", "\x1b[2J", "\u202e", "\u200b", "\ufeff", "\u0430",
             "\x00", "\n", "\t", "~", "$", "{", "}", ":", ","]
        ),
        max_size=30,
    ).map("".join),
    st.sampled_from(
        ["", " ", "prod ", "PROD", "pr\u043ed", "../env/prod", "null", "2024", "." * 300]
    ),
)  # fmt: skip
# A raw control character, or a bidirectional one, in what a terminal is given.
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
PASSWORD = "pw-0123456789abcdef"


def _run(argv: list[str], env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the command with ``env`` set; it exits 0 or 2, safely printed, and a refusal
    names the variable that caused it."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        code = main(argv)
    out = "".join(capsys.readouterr())
    assert code in (0, 2), out
    assert "Traceback" not in out
    assert not RAW.search(out), repr(out)
    if code == 2 and env:
        assert any(name in out for name in env), out
    return out


SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(value=HOSTILE.filter(lambda v: "\x00" not in v))
def test_resolver_env_holds_to_the_rules(value: str, capsys):
    """RESOLVER_ENV with any text: validate exits 0 or 2, printing it safely."""
    _run(["validate"], {"RESOLVER_ENV": value}, capsys)


@SETTINGS
@given(value=HOSTILE.filter(lambda v: "\x00" not in v))
def test_resolver_config_dirs_holds_to_the_rules(value: str, capsys):
    """RESOLVER_CONFIG_DIRS with any text: validate exits 0 or 2, printing it safely."""
    _run(["validate"], {"RESOLVER_CONFIG_DIRS": value}, capsys)


@SETTINGS
@given(value=HOSTILE.filter(lambda v: "\x00" not in v))
def test_the_dev_base_url_variable_holds_to_the_rules(value: str, capsys):
    """RESOLVER_DEV_BASE_URL (read by the dev env) with any text: exit 0 or 2."""
    _run(["validate", "--env", "dev"], {"RESOLVER_DEV_BASE_URL": value}, capsys)


@SETTINGS
@given(value=HOSTILE.filter(lambda v: "\x00" not in v))
def test_the_redis_url_variable_never_shows_its_password(value: str, capsys):
    """RESOLVER_REDIS_URL with a password and any text around it, the redis store asked for:
    exit 0 or 2, and the password is never printed."""
    url = f"redis://user:{PASSWORD}@{value}"
    out = _run(
        ["validate", "policy.health.store=redis"],
        {"RESOLVER_REDIS_URL": url},
        capsys,
    )
    assert PASSWORD not in out


@SETTINGS
@given(value=HOSTILE.filter(lambda v: "\x00" not in v))
def test_the_snapshot_variable_holds_to_the_rules(value: str, capsys, tmp_path: Path):
    """RESOLVER_SNAPSHOT naming any path: `explain` exits 0 or 2, printing it safely."""
    _run(["explain", "gpt-oss-20b"], {"RESOLVER_SNAPSHOT": value}, capsys)


@SETTINGS
@given(env=HOSTILE, config_dir=HOSTILE)
def test_env_and_config_dir_values_hold_to_the_rules(env: str, config_dir: str, capsys):
    """--env and --config-dir with any text: exit 0 or 2, printing them safely, and never
    blaming a variable that is not set."""
    out = _run(["validate", "--env", env, "--config-dir", config_dir], {}, capsys)
    assert "RESOLVER_ENV" not in out
    assert "RESOLVER_CONFIG_DIRS" not in out


@SETTINGS
@given(
    key=st.sampled_from(["policy.max_depth", "fallbacks.kimi-k2-instruct", "++models", "~policy"]),
    value=HOSTILE.filter(lambda v: "\x00" not in v),
)
def test_override_values_hold_to_the_rules(key: str, value: str, capsys):
    """Any text as an override's value: exit 0 or 2, safely printed, no traceback."""
    line = key if key.startswith("~") else f"{key}={value}"
    _run(["validate", line], {}, capsys)
