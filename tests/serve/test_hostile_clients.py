"""The gateway against clients that misbehave: bodies nested too deep, hang-ups while sending
and before the answer, unknown routes and methods, several client keys. Every answer is
OpenAI-shaped JSON with the right status, nothing a client causes leaves a traceback, and a
client that leaves cancels the upstream request at once (logged as 499, never charged)."""

from __future__ import annotations

import json
import logging
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from gateway_support import gateway_for, plain_uvicorn, sdk, serving

from resolver.serve.clients import callers_from

PRIMARY = "deepseek-r1-0528-syn"
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def served(roomy, keys):
    with serving(gateway_for(roomy, keys)) as url:
        yield url


def _access(caplog) -> list[dict]:
    return [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "resolver.gateway.access"
    ]


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_a_body_nested_too_deep_is_a_400_not_a_500(served, caplog, depth):
    """A small body nested thousands of levels deep is refused with 400 invalid_json, and the
    log holds no traceback."""
    caplog.set_level(logging.INFO, logger="resolver")
    body = "[" * depth + "]" * depth
    answer = httpx.post(
        f"{served}/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_json"
    assert not any(r.exc_info for r in caplog.records)


def test_a_client_hanging_up_while_sending_its_body_is_a_499(served, caplog):
    """Content-Length 1000, 70 bytes, then a close: logged as 499 with no traceback, and no
    5xx counted."""
    caplog.set_level(logging.INFO, logger="resolver")
    parts = urlsplit(served)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"model": "x", "messages": [' + b" " * 42
        )
    deadline = time.monotonic() + 5
    while not _access(caplog) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [line["status"] for line in _access(caplog)] == [499]
    assert not any(r.exc_info for r in caplog.records)
    metrics = httpx.get(served.removesuffix("/v1") + "/metrics").text
    assert 'status="500"' not in metrics


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("under", ["serve", "plain uvicorn"])
def test_a_client_leaving_before_the_answer_cancels_the_upstream_call(
    roomy, keys, chat_server, caplog, stream, under
):
    """A client that gives up after 0.3 s on a 4 s upstream: the upstream sees the disconnect at
    once, the access log says 499, and the provider's health is not charged; under `serve`
    (its protocol tells the app) as under a plain uvicorn (the app watches)."""
    caplog.set_level(logging.INFO, logger="resolver")
    chat_server.set_fault(roomy.providers[PRIMARY].model, "slow", delay_s=4)
    gateway = gateway_for(roomy, keys)
    with serving(gateway) if under == "serve" else plain_uvicorn(gateway) as url:
        body = {"model": PRIMARY, "messages": HI, "stream": stream}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/chat/completions", json=body, timeout=0.3)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not (
            chat_server.requests and chat_server.requests[0].disconnected
        ):
            time.sleep(0.02)
        assert chat_server.requests[0].disconnected
        while time.monotonic() < deadline and not _access(caplog):
            time.sleep(0.02)
    assert [line["status"] for line in _access(caplog)] == [499]
    assert roomy.health.state(PRIMARY).failures == 0
    assert len(chat_server.requests) == 1  # no backup was started for a client that left


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/nothing", 404), ("GET", "/v1/chat/completions", 405), ("PUT", "/healthz", 405)],
)
def test_unknown_routes_and_methods_are_openai_shaped(served, method, path, status):
    """A route that does not exist is a 404, a method a route does not take a 405 (with
    Allow), each as OpenAI's error JSON."""
    answer = httpx.request(method, served.removesuffix("/v1") + path)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert path in error["message"]
    if status == 405:
        assert answer.headers["allow"]


def test_every_key_of_a_set_is_accepted(roomy, keys, chat_server, tmp_path):
    """With three keys in the variable and three in the file, each of the six is served and a
    key of neither is refused."""
    file = tmp_path / "keys"
    file.write_text("file-key-1\n# a comment\nfile-key-2  # rotated in\nfile-key-3\n")
    environ = {"RESOLVER_GATEWAY_KEYS": "env-key-1, env-key-2,env-key-3"}
    environ["RESOLVER_GATEWAY_KEYS_FILE"] = str(file)
    client_keys = [c.key for c in callers_from(environ, roomy)]
    assert len(client_keys) == 6
    with serving(gateway_for(roomy, keys, keys=client_keys)) as url:
        for key in client_keys:
            answer = sdk(url, key.decode()).chat.completions.create(model=PRIMARY, messages=HI)
            assert answer.choices[0].message.content
        refused = httpx.get(f"{url}/models", headers={"authorization": "Bearer env-key-4"})
        assert refused.status_code == 401


@pytest.mark.parametrize(
    ("text", "forwarded"),
    [
        # Beyond 64 bits, where orjson reads a float: odd, so that no float equals them.
        ('"seed": 1180591620717411303425', 2**70 + 1),
        ('"seed": -9223372036854775809', -(2**63) - 1),
        ('"temperature": 0.5', 0.5),
        ('"user": "caf\\u00e9 \\ud83d\\ude00"', "caf\u00e9 \U0001f600"),
    ],
    ids=["int-beyond-64-bits", "int-below-64-bits", "float", "escapes"],
)
def test_a_body_is_forwarded_as_pythons_json_reads_it(served, chat_server, text, forwarded):
    """What a client sends reaches the upstream with the value Python's json reads from it,
    whichever JSON library reads it first (an integer beyond 64 bits included)."""
    body = f'{{"model": "{PRIMARY}", "messages": [{{"role": "user", "content": "hi"}}], {text}}}'
    answer = httpx.post(
        f"{served}/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 200
    key = text.split('"')[1]
    got = chat_server.requests[-1].body[key]
    assert got == forwarded
    assert type(got) is type(forwarded)
    assert answer.json()["model"] == PRIMARY
