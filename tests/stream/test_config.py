"""The streaming settings in configuration (first_token_timeout_s, mid_stream) and the public
streaming names."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PRIMARY

import resolver
from resolver import ConfigError, StreamInterrupted
from resolver.errors import Attempt
from resolver.testing import make_resolver

STREAMING_NAMES = {
    "AsyncFallbackStream", "ChatChunk", "FallbackStream", "StreamInterrupted", "StreamResult",
    "achat_stream", "astream_with_fallback", "chat_stream", "stream_with_fallback",
}  # fmt: skip


def test_streaming_names_are_public() -> None:
    """Every streaming name is in resolver.__all__ and importable from the package."""
    assert set(resolver.__all__) >= STREAMING_NAMES
    from resolver import stream

    for name in STREAMING_NAMES - {"StreamInterrupted"}:
        assert getattr(resolver, name) is getattr(stream, name)


def test_import_does_not_load_the_streaming_layer() -> None:
    """`import resolver` leaves resolver.stream (and with it httpx) unimported until used."""
    code = "import sys, resolver; print('resolver.stream' in sys.modules, 'httpx' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(Path(resolver.__file__).resolve().parent.parent), "PATH": ""},
    )
    assert out.stdout.split() == ["False", "False"]


def test_first_token_timeout_defaults_and_is_set_per_vendor_or_model(config_tree) -> None:
    """first_token_timeout_s has its own default (30 s), is inherited from a vendor and can be
    set per model in a deployment's own files."""
    root = config_tree(
        {
            "env/canary.yaml": f"""
            # @package _global_
            defaults:
              - /env/prod@_here_
            providers:
              together:
                first_token_timeout_s: 12
            models:
              {PRIMARY}:
                first_token_timeout_s: 4.5
            """
        }
    )
    shipped = make_resolver(env="prod")
    tuned = make_resolver(env="canary", config_dirs=[root])

    assert shipped.providers[PRIMARY].first_token_timeout_s == 30.0
    assert tuned.providers[PRIMARY].first_token_timeout_s == 4.5
    assert tuned.providers["deepseek-r1"].first_token_timeout_s == 12
    assert tuned.providers["kimi-k2-thinking-syn"].first_token_timeout_s == 30.0


def test_mid_stream_defaults_to_raise_and_accepts_continue() -> None:
    """An edge's mid_stream policy is raise unless set to continue."""
    continuing = make_resolver(overrides=[f"++edge_policy={{{PRIMARY}: {{mid_stream: continue}}}}"])
    noted = make_resolver(overrides=[f"++edge_policy={{{PRIMARY}: {{note: same family}}}}"])

    assert continuing.edge_policy[PRIMARY].mid_stream == "continue"
    assert noted.edge_policy[PRIMARY].mid_stream == "raise"


def test_bad_streaming_settings_are_reported_together_with_their_keys() -> None:
    """A mid_stream value that is not raise/continue and a first_token_timeout_s that is not a
    positive number are both reported in one pass, each naming its key and override."""
    with pytest.raises(ConfigError) as caught:
        make_resolver(
            overrides=[
                f"++edge_policy={{{PRIMARY}: {{mid_stream: resume}}}}",
                f"++models={{{PRIMARY}: {{first_token_timeout_s: 0}}}}",
            ]
        )

    found = {(p.key, p.code) for p in caught.value.errors}
    assert (f"edge_policy.{PRIMARY}.mid_stream", "bad-value") in found
    assert (f"models.{PRIMARY}.first_token_timeout_s", "bad-value") in found
    text = str(caught.value)
    assert "'resume' is not one of raise, continue" in text
    assert "override '++models=" in text


def test_stream_interrupted_survives_pickling_with_its_fields() -> None:
    """StreamInterrupted crosses process boundaries with its partial content and attempts."""
    attempt = Attempt(PRIMARY, "connection", None, "cut", 0.1)
    error = StreamInterrupted(PRIMARY, PRIMARY, "connection", "Yes, it", [attempt], reason="cut")

    copy = pickle.loads(pickle.dumps(error))

    assert (copy.partial, copy.provider_id, copy.error_class) == ("Yes, it", PRIMARY, "connection")
    assert copy.attempts == (attempt,)
    assert str(copy) == str(error)
