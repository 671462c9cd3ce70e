"""A command of ours run as a user runs it: a process whose stdout and stderr go to files, read
once it has printed what says it is ready."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from test_gateway_reload import wait_for


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
