"""Commands of ours run as a user runs them: a process whose stdout and stderr go to files, read
once it has printed what says it is ready; ``serve`` on a free port until /healthz answers; and
the JSON lines such a process logs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    @property
    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8")

    @property
    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8")

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send ``signum`` (Ctrl+C by default) and wait for the exit status."""
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=30)


@contextmanager
def running(args: list[str], tmp_path: Path, ready: str) -> Iterator[Running]:
    """``python <args>`` until its stdout holds ``ready`` (or it exits); killed at the end if
    it is still running."""
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESOLVER_")}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, *args], stdout=stdout, stderr=stderr, env=env)
    started = Running(proc, out, err)
    try:
        wait_for(lambda: ready in started.stdout or proc.poll() is not None, seconds=30)
        yield started
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def refused(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port`` any more."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    give_up = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < give_up, "timed out"
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(
    args: list[str], keys: dict[str, str], log: Path, **popen: Any
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {**os.environ, **keys}
    env.pop("RESOLVER_SNAPSHOT", None)
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "resolver", "serve", "--port", str(port), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            **popen,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _answers(url) or proc.poll() is not None, seconds=30)
            assert proc.poll() is None, log.read_text()
            yield proc, url + "/v1"
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def json_lines(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def events(log: Path, name: str) -> list[dict[str, object]]:
    return [line for line in json_lines(log) if line.get("event") == name]
