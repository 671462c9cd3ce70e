"""``fallback-resolver demo``: a fallback to watch, in one command, with no key and no network.

A fake vendor (:class:`resolver.testing.ChatServer`) on loopback fails every call of one
shipped model; the gateway serves the shipped configuration (env prod) pointed at that vendor,
with dummy keys, so a call of that model is answered by its backup. The demo prints a curl line
and three lines of Python to try, and logs on stderr each call's attempts and fallbacks and the
gateway's access line. Ctrl+C stops the gateway, then the fake vendor.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import socket
import sys
from typing import Any

from .commands import UsageError, needs_gateway
from .errors import ResolverError
from .load import load
from .testing import ChatServer

PRIMARY = "deepseek-r1-0528-syn"
"""The failing model: one the shipped configuration backs up with a model of another vendor."""
GRACE_S = 2.0
MESSAGES = [{"role": "user", "content": "hi"}]


def cmd_demo(port: int) -> int:
    """Serve the demo on 127.0.0.1:``port`` (0: a free port) until Ctrl+C or SIGTERM."""
    with contextlib.suppress(KeyboardInterrupt):  # before the gateway took Ctrl+C over
        _demo(port)
    print("demo stopped: the gateway and the fake vendor are closed", flush=True)
    return 0


def _demo(port: int) -> None:
    try:
        from .serve import Gateway
        from .serve.run import keep_exit_status, lifespan, server_for
    except ImportError as e:
        raise needs_gateway("demo", e) from None
    try:
        # Bound before anything is loaded: a port in use fails at once, and connections made as
        # soon as the lines are printed wait in the backlog until the gateway accepts them.
        listening = socket.create_server(("127.0.0.1", port))
    except OSError as e:
        reason = os.strerror(e.errno) if e.errno else str(e)
        raise UsageError(
            f"--port {port}: cannot listen on 127.0.0.1:{port} ({reason}): pick another port, "
            "or leave out --port for a free one"
        ) from None
    with listening, ChatServer() as vendor:
        environ = vendor.environ()  # dummy keys: the fake vendor checks none
        loader = functools.partial(load, "prod", vendor.overrides(), environ=environ)
        gateway = Gateway(loader, environ=environ)
        backup = gateway.resolver.get_fallback_provider(PRIMARY, environ=environ)
        if backup is None:  # the shipped catalog changed under the demo
            raise ResolverError(f"the shipped config has no usable backup of {PRIMARY}")
        primary = gateway.resolver.providers[PRIMARY]
        vendor.set_fault(primary.model, "server")
        url = f"http://127.0.0.1:{listening.getsockname()[1]}/v1"
        options: dict[str, Any] = {"lifespan": "on", "access_log": False, "log_config": None}
        app = gateway.app(lifespan=lifespan(gateway))
        server = server_for(gateway, app, options, grace_s=GRACE_S)
        # From here a Ctrl+C stops the gateway cleanly (an exit 0), even one that comes before
        # uvicorn has taken the signals over: the lines below say Ctrl+C stops the demo.
        keep_exit_status(server)
        print(_instructions(vendor.base_url, primary.model, url, backup.id), flush=True)
        _narrate()
        server.run(sockets=[listening])


def _instructions(vendor_url: str, vendor_model: str, url: str, backup: str) -> str:
    body = json.dumps({"model": PRIMARY, "messages": MESSAGES})
    client = f'OpenAI(base_url="{url}", api_key="none-needed")'
    create = f"model={PRIMARY!r}, messages={MESSAGES!r}".replace("'", '"')
    return f"""\
fallback-resolver demo: nothing leaves this machine, and no vendor key is needed.
  fake vendor  {vendor_url}: every call of {vendor_model} fails with HTTP 500
  gateway      {url}: the shipped config (env prod) on that vendor;
               {PRIMARY} falls back to {backup}

Ask the gateway for {PRIMARY} with curl:

curl -si {url}/chat/completions -H 'content-type: application/json' -d '{body}'

or in Python, with the openai package (pip install openai):

from openai import OpenAI
r = {client}.chat.completions.with_raw_response.create({create})
print(r.parse().model, {{k: v for k, v in r.headers.items() if k.startswith("x-fallback")}})

The answer's model and its x-fallback-served-by header name {backup}, the backup that served;
x-fallback-attempts counts the calls made (1 once the failing model is out of rotation). The
log below says why: each attempt, fallback and skip, then the gateway's access line. Ctrl+C
stops the demo.
"""


def _narrate() -> None:
    """The executor's events (attempts, fallbacks, skips) and the gateway's lines, as text on
    stderr: the demo's process is its own, so the library's silence is not needed here."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    narrated = logging.getLogger("resolver")  # the gateway's loggers are its children
    narrated.handlers = [handler]
    narrated.setLevel(logging.DEBUG)  # skips are DEBUG: a model out of rotation says so
    narrated.propagate = False
