"""`fallback-resolver serve` as a process under the two attacks on its connections that a
thread cannot stage: idle and trickling sockets at a low descriptor limit, and a SIGTERM whose
grace period ends with requests in flight."""

from __future__ import annotations

import resource
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from gateway_support import sdk, snapshot_of
from process_support import events, serve

pytestmark = pytest.mark.slow  # gateway processes at their limits: `pytest -m slow`, and CI

PRIMARY = "deepseek-r1-0528-syn"
STREAMED = "kimi-k2-thinking-syn"
HI = [{"role": "user", "content": "hi"}]
DESCRIPTORS = 256


def _low_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


def test_idle_and_trickling_sockets_at_a_low_descriptor_limit_do_not_starve_clients(
    chat_server, keys, tmp_path
):
    """With the descriptor limit at 256, 200 sockets that send nothing and 50 that trickle half
    a head: 20 completions are all served meanwhile (idle connections make room), and once
    --header-timeout-s has passed the gateway has closed every one of the 250."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    log = tmp_path / "gateway.log"
    args = ["--snapshot", str(path), "--header-timeout-s", "4"]
    with serve(args, keys, log, preexec_fn=_low_descriptor_limit) as (proc, url):
        port = int(url.split(":")[2].split("/")[0])
        attackers = [socket.create_connection(("127.0.0.1", port)) for _ in range(250)]
        for sock in attackers[200:]:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        client = sdk(url, timeout=10)

        def complete(_: int) -> str:
            answer = client.chat.completions.create(model=PRIMARY, messages=HI)
            return answer.choices[0].message.content or ""

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(complete, range(20)))
        assert all(answers)
        for sock in attackers:  # each is closed by the gateway: an end of file (or a 408)
            sock.settimeout(10)
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            assert data == b"" or data.startswith(b"HTTP/1.1 408"), data
            sock.close()
        assert proc.poll() is None
    assert "Traceback" not in log.read_text()


def test_requests_left_when_the_grace_period_ends_get_a_503_and_the_exit_status_says_so(
    chat_server, roomy, keys, tmp_path
):
    """SIGTERM with --grace-s 0.5 while five completions wait on a 10 s upstream and a stream
    stalls: each completion gets an OpenAI-shaped 503 shutting_down, the stream ends with an
    error event, the log counts 6 requests cut and holds no traceback, and the exit status
    is 3."""
    path = tmp_path / "fallbacks.json"
    snapshot_of(chat_server, path)
    chat_server.set_fault(roomy.providers[PRIMARY].model, "slow", delay_s=10)
    chat_server.set_fault(roomy.providers[STREAMED].model, "sse_stall", after=1, delay_s=10)
    log = tmp_path / "gateway.log"
    with serve(["--snapshot", str(path), "--grace-s", "0.5"], keys, log) as (proc, url):
        client = sdk(url, timeout=30)

        def plain() -> openai.APIStatusError:
            with pytest.raises(openai.APIStatusError) as caught:
                client.chat.completions.create(model=PRIMARY, messages=HI)
            return caught.value

        with ThreadPoolExecutor(5) as pool:
            futures = [pool.submit(plain) for _ in range(5)]
            stream = client.chat.completions.create(model=STREAMED, messages=HI, stream=True)
            first = next(iter(stream))
            time.sleep(1.0)  # the upstream records a slow request only once it answers
            proc.send_signal(signal.SIGTERM)
            refused = [f.result() for f in futures]
            with pytest.raises(openai.APIError, match="grace period"):
                for _ in stream:
                    pass
        assert proc.wait(timeout=30) == 3

    assert first.model == STREAMED
    assert {e.status_code for e in refused} == {503}
    assert {e.body["code"] for e in refused} == {"shutting_down"}  # type: ignore[index]
    assert [e["requests"] for e in events(log, "grace_cut")] == [6]
    assert "Traceback" not in log.read_text()
