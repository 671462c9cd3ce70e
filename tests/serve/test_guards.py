"""The gateway's guards: client keys checked in constant time and answered in OpenAI's shape,
the client's key never sent upstream nor logged, limits on what a request carries, and no
keyless gateway beyond loopback."""

from __future__ import annotations

import json
import logging
import time

import httpx
import openai
import pytest
from conftest import MESSAGES, PRIMARY
from gateway_support import gateway_for, sdk, serving
from hypothesis import given, settings
from hypothesis import strategies as st

import resolver
from resolver.cli import main
from resolver.serve import Limits
from resolver.serve.auth import KEYS_ENV, KEYS_FILE_ENV
from resolver.serve.clients import callers_from

CLIENT_KEY = "gw-client-key-5b1e7c0d"


@pytest.fixture
def locked(roomy, keys):
    """A gateway that asks for CLIENT_KEY, with small limits."""
    gateway = gateway_for(
        roomy, keys, keys=(CLIENT_KEY.encode(),), limits=Limits(max_body_bytes=4096, max_messages=3)
    )
    with serving(gateway) as url:
        yield url


@pytest.mark.parametrize("api_key", ["wrong-key", CLIENT_KEY[:-1], CLIENT_KEY + "x"])
def test_a_wrong_key_is_refused_with_openais_401(api_key, chat_server, locked):
    """A wrong client key (or one a character short or long) is a 401 invalid_api_key, and no
    call goes upstream."""
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk(locked, api_key).chat.completions.create(model=PRIMARY, messages=MESSAGES)

    assert caught.value.code == "invalid_api_key"
    assert chat_server.requests == []


def test_a_missing_key_is_refused_on_every_v1_route(locked):
    """Without Authorization, both /v1 routes answer 401 in OpenAI's shape."""
    for method, path in (("POST", "/chat/completions"), ("GET", "/models")):
        response = httpx.request(method, locked + path, json={})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"


def test_the_right_key_is_served(chat_server, locked):
    """The configured client key is served."""
    completion = sdk(locked, CLIENT_KEY).chat.completions.create(model=PRIMARY, messages=MESSAGES)

    assert completion.model == PRIMARY


def test_the_clients_key_never_goes_upstream(chat_server, roomy, locked):
    """A vendor that quotes back the Authorization it received shows that it got the gateway's
    vendor key (masked by the library), never the client's key."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "echo_key")
    client = sdk(locked, CLIENT_KEY, default_headers={"x-fallback": "off"})

    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=PRIMARY, messages=MESSAGES)

    text = json.dumps(caught.value.body)
    assert CLIENT_KEY not in text
    assert "test-key" not in text  # the vendor key it did get is masked
    assert "auth" in text


def test_the_access_log_has_one_json_line_and_no_key(chat_server, locked, caplog):
    """Each request leaves one JSON access log line with the model requested and served, the
    attempts, the status and the latency, and no key anywhere."""
    caplog.set_level(logging.INFO, logger="resolver.gateway")
    sdk(locked, CLIENT_KEY).chat.completions.create(model=PRIMARY, messages=MESSAGES)

    def access_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "resolver.gateway.access"]

    # The line is written once the response has gone, so the client may see the answer first.
    waited = time.monotonic() + 5.0
    while not access_lines() and time.monotonic() < waited:
        time.sleep(0.01)
    lines = access_lines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert (line["requested"], line["served"], line["attempts"], line["status"]) == (
        PRIMARY,
        PRIMARY,
        1,
        200,
    )
    assert line["latency_ms"] > 0
    assert all(CLIENT_KEY not in r.getMessage() for r in caplog.records)
    assert all("test-key" not in r.getMessage() for r in caplog.records)


def test_a_body_over_the_size_limit_is_refused(chat_server, locked):
    """A body larger than --max-body-bytes is a 413 naming the limit, and nothing is sent."""
    big = [{"role": "user", "content": "x" * 5000}]
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(locked, CLIENT_KEY).chat.completions.create(model=PRIMARY, messages=big)

    assert caught.value.status_code == 413
    assert "4096 bytes" in caught.value.message
    assert chat_server.requests == []


def test_too_many_messages_are_refused(chat_server, locked):
    """More messages than --max-messages is a 400 naming the limit."""
    with pytest.raises(openai.BadRequestError, match="limit of 3"):
        sdk(locked, CLIENT_KEY).chat.completions.create(model=PRIMARY, messages=MESSAGES * 4)


def test_any_bad_body_is_a_4xx_in_openais_shape(chat_server, roomy, keys):
    """Whatever bytes or JSON value a client sends as a body, the answer is a 4xx with an
    OpenAI error object, never a server error, and nothing is sent upstream."""
    values = st.recursive(st.none() | st.integers() | st.text(), st.lists)
    with serving(gateway_for(roomy, keys)) as url, httpx.Client() as client:

        @settings(max_examples=60, deadline=None)
        @given(body=st.binary(max_size=300) | values)
        def check(body: bytes | object) -> None:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            response = client.post(url + "/chat/completions", content=content)
            assert 400 <= response.status_code < 500
            assert isinstance(response.json()["error"]["message"], str)

        check()
    assert chat_server.requests == []


def test_serve_refuses_a_public_address_without_keys(capsys):
    """`serve --host 0.0.0.0` without client keys exits 2, saying how to fix it."""
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert KEYS_ENV in err
    assert "--insecure-no-auth" in err


def test_an_unreadable_key_file_is_named(tmp_path, capsys, monkeypatch):
    """A key file that cannot be read stops `serve` with exit 2, naming the variable and
    path."""
    missing = tmp_path / "keys.txt"
    monkeypatch.setenv(KEYS_FILE_ENV, str(missing))

    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert KEYS_FILE_ENV in err
    assert str(missing) in err


def test_keys_come_from_the_variable_and_the_file(tmp_path):
    """Keys from RESOLVER_GATEWAY_KEYS (comma-separated) and the key file (one per line,
    comments ignored) are all accepted."""
    path = tmp_path / "keys.txt"
    path.write_text("# team a\nkey-from-file  # rotated 2026-11\n\n", encoding="utf-8")

    callers = callers_from({KEYS_ENV: "k1, k2", KEYS_FILE_ENV: str(path)}, resolver.load("prod"))
    keys = tuple(c.key for c in callers)

    assert keys == (b"k1", b"k2", b"key-from-file")
