"""The chain both tracing suites call through (in-process and over the gateway), and a message
that must never reach a span."""

REQUESTED = "deepseek-r1-0528-syn"
CHAIN = [REQUESTED, "deepseek-r1", "kimi-k2-instruct"]
EDGES = f"++fallbacks={{{REQUESTED}: [{CHAIN[1]}, {CHAIN[2]}]}}"
SECRET = "the-weather-question-nobody-may-read"
MESSAGES = [{"role": "user", "content": f"Will it rain tomorrow? {SECRET}"}]
