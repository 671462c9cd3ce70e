"""``python -m resolver.testing``: a :class:`~resolver.testing.ChatServer` as a process, for
people testing their own services against a fake OpenAI-compatible vendor.

Faults are given per model string, ``--fault MODEL=KIND[:OPTION=VALUE,...]``, with the kinds and
:class:`~resolver.testing.Fault` options of ``ChatServer.set_fault``. It prints its base URL and
its faults on stdout, one line per request on stderr, and serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import did_you_mean
from .testing import FAULTS, STREAM_FAULTS, ChatServer, FaultKind

PROG = "python -m resolver.testing"


def _count(least: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < least:
            raise ValueError
        return value

    return parse


def _seconds(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:  # also false for nan
        raise ValueError
    return value


# Fault's options: how each is read, what it must be, and the kinds it means something for
# (None: all). An option that would be ignored is refused, so no value given is silently lost.
_OPTIONS: dict[str, tuple[Callable[[str], Any], str, tuple[str, ...] | None]] = {
    "times": (_count(1), "a whole number of failures, 1 or more", None),
    "rate": (_share, "a share of requests, above 0 and at most 1", None),
    "retry_after": (_seconds, "seconds, 0 or more", ("rate_limit",)),
    "delay_s": (_seconds, "seconds, 0 or more", ("slow", "stall", "sse_stall")),
    "after": (_count(0), "a whole number of content chunks, 0 or more", STREAM_FAULTS),
}
_FORM = "MODEL=KIND or MODEL=KIND:OPTION=VALUE,... (e.g. deepseek-ai/DeepSeek-R1=server)"


@dataclass(frozen=True)
class FaultSpec:
    """One ``--fault``: the model string, the fault kind and the Fault options given."""

    model: str
    kind: FaultKind
    options: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        # repr: exact, so that the line printed reads back as the same fault
        given = ",".join(
            f"{name}={value!r}".removesuffix(".0") for name, value in self.options.items()
        )
        return f"{self.model}={self.kind}" + (f":{given}" if given else "")


def parse_fault(text: str) -> FaultSpec:
    """``MODEL=KIND[:OPTION=VALUE,...]``; the model string ends at the first ``=`` (it may hold
    ``:`` and ``/``, as ``hf:deepseek-ai/DeepSeek-R1`` does). Raises ArgumentTypeError saying
    what is wrong and how to write it."""
    model, eq, rest = text.partition("=")
    if not eq:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {_FORM}")
    if not model.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: the model string before '=' is empty")
    kind, _, given = rest.partition(":")
    if kind not in FAULTS:
        raise _unknown(text, "fault kind", kind, FAULTS)
    options: dict[str, Any] = {}
    for item in given.split(",") if given else []:
        name, eq, value = item.partition("=")
        if name not in _OPTIONS:
            raise _unknown(text, "option", name, _OPTIONS)
        read, rule, kinds = _OPTIONS[name]
        if kinds is not None and kind not in kinds:
            raise argparse.ArgumentTypeError(
                f"{text!r}: {name} means nothing for {kind}; it applies to {', '.join(kinds)}"
            )
        if name in options:
            raise argparse.ArgumentTypeError(f"{text!r}: option {name} is given twice")
        try:
            options[name] = read(value)
        except ValueError:
            given_as = f"{name}={value!r}" if eq else f"{name} has no value"
            raise argparse.ArgumentTypeError(f"{text!r}: {given_as}: give {rule}") from None
    return FaultSpec(model, kind, options)


def _unknown(text: str, what: str, name: str, known: Iterable[str]) -> argparse.ArgumentTypeError:
    hint = did_you_mean(name, known)
    return argparse.ArgumentTypeError(
        f"{text!r}: unknown {what} {name!r}"
        + (f"; {hint}" if hint else "")
        + f" ({what}s: {', '.join(known)})"
    )


def port_number(text: str) -> int:
    """A ``--port`` value: 0 (a free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: give 1 to 65535, or 0 for a free one"
        )
    return port


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="A fake OpenAI-compatible vendor (POST /v1/chat/completions, streaming too):\n"
        'every model answers "ok from <model>", except those given a --fault. It prints its\n'
        "base URL and faults, one line per request on stderr, and serves until Ctrl+C or\n"
        "SIGTERM.",
        epilog="examples:\n"
        f"  {PROG} --port 8000\n"
        f"  {PROG} --port 8000 --fault deepseek-ai/DeepSeek-R1=server\n"
        f"  {PROG} --fault my-model=rate_limit:retry_after=1,times=2 \\\n"
        f"      --fault hf:my-org/slow-model=slow:delay_s=2\n\n"
        f"kinds: {', '.join(FAULTS)}\n"
        f"options: {', '.join(_OPTIONS)} (resolver.testing.Fault)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument(
        "--port", type=port_number, default=0, help="port to bind (default: 0, a free one)"
    )
    p.add_argument(
        "--fault",
        metavar="MODEL=KIND[:OPTION=VALUE,...]",
        type=parse_fault,
        action="append",
        default=[],
        help="answer requests for the model string MODEL with fault KIND (repeatable)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake vendor until SIGINT or SIGTERM; 0 then, 2 for bad arguments."""
    try:
        server, faults = _start(argv)
    except SystemExit as e:  # argparse: --help (0) and bad arguments (2)
        return e.code if isinstance(e.code, int) else 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        print(f"fake vendor on {server.base_url} (Ctrl+C stops it)", flush=True)
        for spec in faults:
            print(f"fault {spec}", flush=True)
        if not faults:
            print('no faults: every model answers "ok from <model>"', flush=True)
        while not stop.wait(0.2):
            _log_requests(server)
        _log_requests(server)
    finally:
        server.stop()
    return 0


def _start(argv: Sequence[str] | None) -> tuple[ChatServer, list[FaultSpec]]:
    """The server, listening with its faults set; exits 2 (argparse) on bad arguments."""
    parser = build_parser()
    args = parser.parse_args(argv)
    faults: list[FaultSpec] = args.fault
    models = [spec.model for spec in faults]
    for model in models:
        if models.count(model) > 1:
            parser.error(f"argument --fault: {model!r} is given twice; one fault per model")
    server = ChatServer(host=args.host, port=args.port)
    try:
        server.start()
    except OSError as e:
        parser.error(
            f"argument --port: cannot listen on {args.host}:{args.port} ({e.strerror or e}): "
            "pick another --port, or --port 0 for a free one"
        )
    for spec in faults:
        server.set_fault(spec.model, spec.kind, **spec.options)
    return server, faults


def _log_requests(server: ChatServer) -> None:
    # Taken, not only read: a vendor left running for days must not keep every request.
    for request in server.take_requests():
        answer = request.fault or "answered"
        gone = " (the client went away)" if request.disconnected else ""
        line = f"{request.path} model={request.model!r}: {answer}{gone}"
        print(line, file=sys.stderr, flush=True)
