"""Per-call overhead of resolver.chat over a direct httpx call, against the loopback server.

Both sides post the same chat-completions request to the same in-process server over a pooled
keep-alive connection and parse the JSON; chat also resolves the provider, reads the key, runs
the fallback bookkeeping and builds the Outcome. Run by hand:

    python bench/bench_chat.py [calls]
"""

from __future__ import annotations

import statistics
import sys
import time

import httpx

from resolver.http import Client
from resolver.testing import ChatServer, make_resolver

MODEL = "deepseek-r1-0528-syn"
MESSAGES = [{"role": "user", "content": "Will it rain tomorrow? Answer yes or no."}]


def main(calls: int = 2000) -> None:
    with ChatServer() as server:
        resolver = make_resolver(overrides=server.overrides())
        environ = server.environ()
        provider = resolver.providers[MODEL]
        url = server.base_url + "/chat/completions"
        headers = {"Authorization": f"Bearer {environ[provider.api_key_env or '']}"}
        body = {"model": provider.model, "messages": MESSAGES}

        with httpx.Client() as direct, Client() as pool:

            def raw() -> None:
                response = direct.post(url, json=body, headers=headers, timeout=60)
                response.raise_for_status()
                assert response.json()["choices"][0]["message"]["content"]

            def ours() -> None:
                outcome = resolver.chat(MODEL, MESSAGES, environ=environ, client=pool)
                assert outcome.value.content

            for _ in range(200):  # warm both pools and the server's threads
                raw()
                ours()
            timings: dict[str, list[float]] = {"httpx": [], "chat": []}
            for _ in range(calls):  # interleaved, so drift hits both alike
                for name, fn in (("httpx", raw), ("chat", ours)):
                    start = time.perf_counter()
                    fn()
                    timings[name].append(time.perf_counter() - start)

    base = statistics.median(timings["httpx"])
    mine = statistics.median(timings["chat"])
    print(f"calls per side:     {calls}")
    print(f"direct httpx:       {base * 1e6:8.1f} us median per call")
    print(f"resolver.chat:      {mine * 1e6:8.1f} us median per call")
    print(f"overhead:           {(mine - base) * 1e6:8.1f} us per call")
    print(f"ratio chat / httpx: {mine / base:8.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
