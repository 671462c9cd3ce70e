"""`fallback-resolver demo`: the commands it prints work as printed and show a fallback, with no
key and no network, and Ctrl+C stops it cleanly."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_support import Running, free_port, refused, running, wait_for

PRIMARY = "deepseek-r1-0528-syn"
BACKUP = "deepseek-r1"
READY = "stops the demo."


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Running, int]]:
    port = free_port()
    with running(["-m", "resolver", "demo", "--port", str(port)], tmp_path, READY) as started:
        assert started.proc.poll() is None, started.stderr
        yield started, port


def test_the_printed_curl_line_is_answered_by_the_backup(demo: tuple[Running, int]) -> None:
    """The curl line the demo prints, run as printed, gets the backup's answer, with headers
    naming the model asked for, the one that served and the attempts made."""
    if shutil.which("curl") is None:
        pytest.skip("no curl on this machine")
    started, port = demo
    [line] = [line for line in started.stdout.splitlines() if line.startswith("curl ")]
    assert f"http://127.0.0.1:{port}/v1/" in line
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=30)

    head, _, body = done.stdout.partition("\n\n")  # text=True: \r\n read as \n
    assert head.startswith("HTTP/1.1 200")
    assert f"x-fallback-requested: {PRIMARY}" in head
    assert f"x-fallback-served-by: {BACKUP}" in head
    assert "x-fallback-attempts: 2" in head
    assert json.loads(body)["model"] == BACKUP


def test_the_printed_python_lines_name_the_backup_and_the_log_says_why(
    demo: tuple[Running, int],
) -> None:
    """The three Python lines the demo prints, run as printed with the openai package, print
    the backup as the model that served; the demo's log says the primary failed and the call
    fell back, and its access line says a backup served."""
    started, _ = demo
    text = started.stdout
    python = text[text.index("from openai import") : text.index("\n", text.index("print("))]
    assert len(python.splitlines()) == 3
    done = subprocess.run(
        [sys.executable, "-c", python], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    served, _, headers = done.stdout.strip().partition(" ")
    assert served == BACKUP
    assert f"'x-fallback-served-by': '{BACKUP}'" in headers
    wait_for(lambda: '"path":"/v1/chat/completions"' in started.stderr)  # logged once sent
    log = started.stderr
    assert f"attempt on {PRIMARY} failed: server (HTTP 500)" in log
    assert f"falling back from {PRIMARY} to {BACKUP} after server" in log
    [access] = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert (access["requested"], access["served"], access["fallback_used"]) == (
        PRIMARY,
        BACKUP,
        True,
    )


def test_ctrl_c_stops_the_demo_with_exit_0_and_frees_both_ports(
    demo: tuple[Running, int],
) -> None:
    """Ctrl+C stops the demo with exit status 0 and no traceback, and neither the gateway's
    port nor the fake vendor's is listening afterwards."""
    started, port = demo
    vendor = re.search(r"fake vendor +http://127\.0\.0\.1:(\d+)/v1", started.stdout)
    assert vendor is not None, started.stdout
    assert not refused(port)
    assert not refused(int(vendor[1]))

    assert started.stop() == 0
    assert refused(port)
    assert refused(int(vendor[1]))
    assert "Traceback" not in started.stderr
    assert started.stdout.endswith("demo stopped: the gateway and the fake vendor are closed\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "argument --port: '70000' is not a port"),
        (["--env", "dev"], "unrecognized arguments: --env dev"),
    ],
)
def test_bad_demo_arguments_exit_2_with_one_message(args: list[str], message: str) -> None:
    """A port out of range, or a configuration flag the demo does not take, exits 2 with one
    message and no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "resolver", "demo", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_demo_port_in_use_exits_2_saying_to_pick_another() -> None:
    """`demo --port P` with P taken exits 2 at once, saying so and what to do, no traceback."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "resolver", "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in done.stderr
    assert "pick another port" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_lists_the_demo() -> None:
    """`fallback-resolver --help` lists the demo among the commands, and its own help has an
    example."""
    run = [sys.executable, "-m", "resolver"]
    top = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=30)
    own = subprocess.run([*run, "demo", "--help"], capture_output=True, text=True, timeout=30)
    assert "    demo " in top.stdout
    assert "fallback-resolver demo --port 8080" in own.stdout.split("examples:\n")[1]


def test_ctrl_c_the_moment_the_demo_says_it_stops_it_is_not_lost(tmp_path: Path) -> None:
    """A Ctrl+C sent the instant the demo prints that Ctrl+C stops it (while the gateway may
    still be starting) stops it with exit 0, each of several times."""
    for n in range(5):
        out = tmp_path / f"out-{n}.txt"
        with out.open("wb") as stdout:
            proc = subprocess.Popen(
                [sys.executable, "-m", "resolver", "demo"],
                stdout=stdout,
                stderr=subprocess.DEVNULL,
            )
        try:
            give_up = time.monotonic() + 30
            while READY not in out.read_text() and proc.poll() is None:  # no sleep: at once
                assert time.monotonic() < give_up, "the demo never said it was ready"
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
