"""A fast chat-completions server for the burst benchmark: aiohttp's own web server, in a
process of its own so that it does not share the benchmark's interpreter lock.

    python bench/fast_server.py PORT_FILE [--delay-ms MS]

Listens on 127.0.0.1 on a free port, writes the port to PORT_FILE, and answers every
``POST .../chat/completions`` with the same small completion (and counts them at
``GET /count``) until it is killed: at once, or ``--delay-ms`` after the request came (standing
for a model's generation time; the server's own work stays as small).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from pathlib import Path

from aiohttp import web

ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "bench",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
).encode()


def main(port_file: Path, delay_s: float = 0.0) -> None:
    seen = [0]

    async def complete(request: web.Request) -> web.Response:
        await request.read()
        seen[0] += 1
        if delay_s:
            await asyncio.sleep(delay_s)
        return web.Response(body=ANSWER, content_type="application/json")

    async def count(request: web.Request) -> web.Response:
        return web.json_response({"requests": seen[0]})

    app = web.Application()
    app.router.add_post("/{prefix:.*}chat/completions", complete)
    app.router.add_get("/count", count)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    port_file.write_text(str(sock.getsockname()[1]))
    web.run_app(app, sock=sock, print=None, backlog=4096, access_log=None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port_file", type=Path)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="answer this late")
    args = parser.parse_args()
    main(args.port_file, args.delay_ms / 1000)
