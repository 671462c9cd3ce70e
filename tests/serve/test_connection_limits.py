"""The gateway's limits on what a connection may hold: a header timeout, a body timeout, an idle
keep-alive timeout, a nesting limit, and a cap on open connections that closes idle ones first.
What the HTTP layer answers itself (a malformed request, a full house) is OpenAI-shaped JSON."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import pytest
from gateway_support import gateway_for, plain_uvicorn, sdk, serving
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.serve import Limits

PRIMARY = "deepseek-r1-0528-syn"
HI = [{"role": "user", "content": "hi"}]
HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"


@contextmanager
def served(roomy, keys, **limits) -> Iterator[tuple[str, int]]:
    """The gateway with ``limits`` on a loopback port: its base URL and the port."""
    with serving(gateway_for(roomy, keys, limits=Limits(**limits))) as url:
        yield url, int(urlsplit(url).port or 0)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(10)
    return sock


def answer_of(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read until the gateway closes: the status, headers and body of its one answer (0 and
    nothing when it closed without one)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    if not data:
        return 0, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def heads_of(data: bytes) -> Iterator[str]:
    """The head of each answer in ``data``, answers following one another as sent."""
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        text = head.decode("latin-1")
        assert text.startswith("HTTP/1.1 "), data
        yield text
        length = re.search(r"(?im)^content-length: (\d+)$", text)
        data = rest[int(length.group(1)) if length else len(rest) :]


def openai_error(status: int, headers: dict[str, str], body: bytes, code: str) -> None:
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == code, error
    assert set(error) >= {"message", "type", "param", "code"}


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(roomy, keys):
    """A socket that sends no byte is closed by the gateway once --header-timeout-s has passed,
    quietly, as an idle keep-alive connection is."""
    with served(roomy, keys, header_timeout_s=0.3) as (_, port), connect(port) as sock:
        began = time.monotonic()
        assert answer_of(sock) == (0, {}, b"")
        assert 0.25 < time.monotonic() - began < 3


def test_a_trickled_head_gets_a_408_at_the_header_timeout(roomy, keys):
    """A head sent a byte at a time (slowloris) is cut off with an OpenAI-shaped 408 when
    --header-timeout-s has passed since the connection opened, however steadily it trickles."""
    with served(roomy, keys, header_timeout_s=0.5) as (_, port), connect(port) as sock:
        began = time.monotonic()
        for byte in HEAD * 10:  # a byte every 20 ms, until the gateway answers
            sock.send(bytes([byte]))
            if select.select([sock], [], [], 0.02)[0]:
                break
        elapsed = time.monotonic() - began
        status, headers, body = answer_of(sock)
    assert status == 408
    openai_error(status, headers, body, "request_timeout")
    assert 0.45 < elapsed < 3


def test_the_next_request_on_a_kept_alive_connection_has_its_own_header_timeout(roomy, keys):
    """After an answer, a connection that sends nothing is closed by --keep-alive-s; one that
    starts another head and stalls is cut at --header-timeout-s."""
    with served(roomy, keys, keep_alive_s=0.3, header_timeout_s=0.6) as (url, port):
        with httpx.Client() as client:
            assert client.get(url.removesuffix("/v1") + "/healthz").status_code == 200
            time.sleep(0.8)
            # httpx notices the closed connection and opens another: the first one was closed.
            assert client.get(url.removesuffix("/v1") + "/healthz").status_code == 200
        with connect(port) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
            time.sleep(0.1)
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # a second head, never finished
            began = time.monotonic()
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200")
        assert b"HTTP/1.1 408" in data
        assert 0.5 < time.monotonic() - began < 3


@pytest.mark.parametrize("under", ["serve", "plain uvicorn"])
def test_a_body_that_does_not_arrive_in_time_gets_a_408(roomy, keys, caplog, under):
    """A head promising 1,000 bytes and 10 of them: an OpenAI-shaped 408 after
    --body-timeout-s, logged as 408, and the connection is closed rather than left to
    trickle; under `serve` (its protocol times the body) as under a plain uvicorn (the app
    does)."""
    caplog.set_level(logging.INFO, logger="resolver.gateway.access")
    gateway = gateway_for(roomy, keys, limits=Limits(body_timeout_s=0.4))
    with serving(gateway) if under == "serve" else plain_uvicorn(gateway) as url:
        with connect(int(urlsplit(url).port or 0)) as sock:
            sock.sendall(HEAD + b"Content-Length: 1000\r\n\r\n" + b'{"model": ')
            began = time.monotonic()
            status, headers, body = answer_of(sock)
        waited = time.monotonic() - began
        deadline = time.monotonic() + 2
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.02)
    openai_error(status, headers, body, "request_timeout")
    assert status == 408
    assert "--body-timeout-s" in json.loads(body)["error"]["message"]
    assert 0.35 < waited < 3
    assert [json.loads(r.getMessage())["status"] for r in caplog.records] == [408]


def test_nesting_beyond_the_limit_is_refused_and_within_it_is_served(roomy, keys):
    """A body nesting an extra field ``depth`` levels deep is refused with invalid_json and the
    --max-depth flag named exactly when the whole body is deeper than the limit; within it,
    the request is answered."""
    limit = 40
    with served(roomy, keys, max_depth=limit) as (url, _), httpx.Client() as client:

        @settings(max_examples=40, deadline=None)
        @given(depth=st.integers(1, 400))
        def check(depth: int) -> None:
            # The body's own levels: the object and "metadata"; then the nested field.
            nested = json.loads("[" * depth + "]" * depth)
            body = {"model": PRIMARY, "messages": HI, "metadata": {"n": nested}}
            answer = client.post(f"{url}/chat/completions", json=body)
            if depth + 2 > limit:
                assert answer.status_code == 400
                assert answer.json()["error"]["code"] == "invalid_json"
                assert "--max-depth" in answer.json()["error"]["message"]
            else:
                assert answer.status_code == 200, answer.text

        check()


MALFORMED = [
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Evil: a\x00b\r\n\r\n",
    b"GET /healthz HTTP/9.9\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello to a plain HTTP port
]


@pytest.mark.parametrize("request_bytes", MALFORMED)
def test_a_request_that_is_not_http_gets_an_openai_shaped_400(roomy, keys, request_bytes):
    """A bad Content-Length, Content-Length with chunked, a NUL in a header, an unknown HTTP
    version or TLS bytes: a 400 in OpenAI's error shape, and the gateway serves on."""
    with served(roomy, keys) as (url, port):
        with connect(port) as sock:
            sock.sendall(request_bytes)
            status, headers, body = answer_of(sock)
        assert status == 400
        openai_error(status, headers, body, "invalid_http")
        assert httpx.get(url.removesuffix("/v1") + "/healthz").status_code == 200


@pytest.mark.slow  # a long property run over real sockets
def test_any_bytes_get_json_or_nothing(roomy, keys):
    """Random bytes spliced into a request head: whatever the gateway answers is JSON, never
    uvicorn's plain text, and it keeps serving."""
    with served(roomy, keys, header_timeout_s=0.2, body_timeout_s=0.2) as (url, port):

        @settings(max_examples=30, deadline=None)
        @given(noise=st.binary(min_size=1, max_size=200), at=st.integers(0, len(HEAD) + 40))
        def check(noise: bytes, at: int) -> None:
            request = (HEAD + b"Content-Length: 2\r\n\r\n{}")[:at] + noise + b"\r\n\r\n"
            data = b""
            with connect(port) as sock, contextlib.suppress(OSError):  # closed before all is sent
                sock.sendall(request)
                while chunk := sock.recv(65536):
                    data += chunk
            for head in heads_of(data):
                assert "content-type: application/json" in head.lower(), data
            assert httpx.get(url.removesuffix("/v1") + "/healthz").status_code == 200

        check()


def test_at_the_connection_cap_the_oldest_idle_connection_makes_room(roomy, keys):
    """With --max-connections 4 held by four idle sockets, a client is still served: the
    oldest idle socket is closed to make room for it."""
    with served(roomy, keys, max_connections=4) as (url, port):
        idle = [connect(port) for _ in range(4)]
        time.sleep(0.1)
        answer = sdk(url).chat.completions.create(model=PRIMARY, messages=HI)
        assert answer.choices[0].message.content
        assert answer_of(idle[0]) == (0, {}, b"")  # the oldest went
        for sock in idle:
            sock.close()


def test_with_every_connection_busy_a_newcomer_gets_an_openai_shaped_503(roomy, keys, chat_server):
    """With --max-connections 2 and both held by requests in progress, a third connection is
    answered 503 too_many_connections with Retry-After; the two requests still complete."""
    chat_server.set_fault(roomy.providers[PRIMARY].model, "slow", delay_s=1.0)
    body = json.dumps({"model": PRIMARY, "messages": HI}).encode()
    request = HEAD + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
    with served(roomy, keys, max_connections=2) as (_, port):
        busy = [connect(port) for _ in range(2)]
        for sock in busy:
            sock.sendall(request)
        time.sleep(0.3)
        with connect(port) as third:
            status, headers, body_ = answer_of(third)
        assert status == 503
        assert headers["retry-after"] == "1"
        openai_error(status, headers, body_, "too_many_connections")
        assert [answer_of(sock)[0] for sock in busy] == [200, 200]
        for sock in busy:
            sock.close()
