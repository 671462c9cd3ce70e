"""OpenAI chat-completion streams on the wire: server-sent events into :class:`ChatChunk`.

:class:`SSEDecoder` turns the lines of a ``text/event-stream`` body into chunks, and raises a
:class:`~resolver.errors.ProviderError` for what breaks a stream from inside a 200 answer: an
error object or ``event: error`` (classed from its code and message), an event whose data is not
a JSON object (``bad_response``), and a body that ends without ``[DONE]``.
:func:`read_chunk` reads one chunk, as a parsed dict or as the ``openai`` SDK's object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import jsonio
from .catalog import ErrorClass
from .classify import classify_status
from .errors import ProviderError

__all__ = ["ChatChunk", "SSEDecoder", "read_chunk"]


@dataclass(slots=True)
class ChatChunk:
    """One chunk of a streamed chat completion. (Not frozen: a frozen dataclass's __init__
    costs several microseconds more per chunk, a tenth of reading one from the wire.)"""

    content: str | None
    """The text this chunk adds to the answer (None when it adds none)."""
    finish_reason: str | None
    provider_id: str
    reasoning: str | None = None
    """Reasoning text (``reasoning_content``/``reasoning``), which some vendors stream first."""
    refusal: str | None = None
    tool_calls: list[Any] | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    raw: Any = field(default=None, repr=False, compare=False)
    """The chunk as it arrived: the parsed JSON, or the object your own ``fn`` yielded."""

    @property
    def has_content(self) -> bool:
        """Whether this chunk carries answer content: text, a tool call or a refusal."""
        return bool(self.content or self.tool_calls or self.refusal)


def _attr(obj: Any, name: str) -> Any:
    return getattr(obj, name, None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_chunk(obj: Any, provider_id: str) -> ChatChunk:
    """``obj`` (an OpenAI chunk as a dict or as an SDK object, a :class:`ChatChunk`, or a plain
    string of text) as a :class:`ChatChunk`; raises for an in-band error."""
    if isinstance(obj, ChatChunk):
        return obj
    if isinstance(obj, str):
        return ChatChunk(obj or None, None, provider_id, raw=obj)
    # Parsed JSON is dicts all the way down, an SDK chunk objects: one getter per chunk.
    get: Callable[[Any, str], Any] = dict.get if isinstance(obj, dict) else _attr
    fields = _fields(get, obj)
    if fields is None:  # raised here, outside the handler, so no __context__ rides along
        raise ProviderError(
            "bad_response", "a chunk of unexpected shape", 200, provider_id=provider_id
        )
    error, content, reasoning, refusal, finish, tools, model, prompt, completion, total = fields
    if error:
        raise inband_error(error, provider_id)
    if finish == "error":  # OpenRouter's way of ending a stream that failed
        raise ProviderError(
            "server", "the stream finished with an error", 200, provider_id=provider_id
        )
    return ChatChunk(
        _str(content) or None,
        _str(finish),
        provider_id,
        _str(reasoning) or None,
        _str(refusal) or None,
        tools or None,
        _str(model),
        _int(prompt),
        _int(completion),
        _int(total),
        obj,
    )


def _fields(get: Callable[[Any, str], Any], obj: Any) -> tuple[Any, ...] | None:
    """error, content, reasoning, refusal, finish reason, tool calls, model and the three token
    counts of a chunk; None for a chunk of another shape (the vendor's bad response)."""
    try:
        error = get(obj, "error")
        choices = get(obj, "choices")
        content = reasoning = refusal = finish = tools = None
        if choices and not error:
            choice = choices[0]
            finish = get(choice, "finish_reason")
            delta = get(choice, "delta")
            if delta is not None:
                content = get(delta, "content")
                reasoning = get(delta, "reasoning_content") or get(delta, "reasoning")
                refusal = get(delta, "refusal")
                tools = get(delta, "tool_calls")
        usage = get(obj, "usage")
        counts = ("prompt_tokens", "completion_tokens", "total_tokens")
        tokens = [get(usage, name) for name in counts] if usage else [None, None, None]
        return error, content, reasoning, refusal, finish, tools, get(obj, "model"), *tokens
    except (TypeError, LookupError):
        return None


def inband_error(error: Any, provider_id: str, secret: str = "") -> ProviderError:
    """The failure an error object inside a 200 stream stands for, classed from its code (an
    HTTP status, or a name such as ``rate_limit_exceeded``) and message."""
    if isinstance(error, Mapping):
        message = str(error.get("message") or "error event in the stream")
        code = error.get("code") or error.get("status")
        kind = error.get("type") or ""
    else:
        message, code, kind = str(error), None, ""
    if secret and secret in message:  # never repeat a key a vendor echoed back
        message = message.replace(secret, "***")
    message = message if len(message) <= 300 else message[:297] + "..."
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    error_class: ErrorClass
    if isinstance(code, int) and 400 <= code < 600:
        error_class = classify_status(code, message)
    else:
        text = f"{code or ''} {kind} {message}"
        error_class = classify_status(400, text)  # context window, content policy...
        if error_class == "bad_request":  # ...else by name; an unnamed error is the vendor's
            lowered = text.lower()
            error_class = (
                "rate_limit"
                if "rate" in lowered or "quota" in lowered
                else "auth"
                if "api key" in lowered or "api_key" in lowered
                else "server"
            )
    return ProviderError(
        error_class, f"error inside the stream: {message}", 200, provider_id=provider_id
    )


class SSEDecoder:
    """Decodes one stream's body, piece by piece as it arrives, into chunks.

    It splits the bytes itself rather than reading httpx's text lines: a chunk costs a few
    microseconds less, a third of what the streaming layer adds per chunk."""

    __slots__ = ("_buffer", "_data", "_event", "_failure", "_secret", "done", "provider_id")

    def __init__(self, provider_id: str, secret: str = "") -> None:
        self.provider_id = provider_id
        self._secret = secret
        self._buffer = b""  # a line not yet ended
        self._data: list[bytes] = []
        self._event = b""
        self._failure: ProviderError | None = None
        self.done = False
        """True once ``[DONE]`` has arrived."""

    def feed(self, piece: bytes) -> list[ChatChunk]:
        """The chunks of the events that ``piece`` of the body completes. A failure after some
        of them is raised on the next call, so the chunks before it are not lost."""
        if self._failure is not None:
            raise self._failure
        if self.done:
            return []  # past [DONE]: the caller only reads on to let the connection pool
        buffer = self._buffer + piece if self._buffer else piece
        if b"\r" in buffer:  # CRLF or CR line ends; a final CR may be half of a CRLF
            held = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                buffer = buffer[:-1] + b"\r"
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        chunks = []
        try:
            for line in lines:
                chunk = self._line(line)
                if chunk is not None:
                    chunks.append(chunk)
                if self.done:
                    break
        except ProviderError as exc:
            if not chunks:
                raise
            self._failure = exc
        return chunks

    def _line(self, line: bytes) -> ChatChunk | None:
        if line:
            if line.startswith(b"data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(b" ") else value)
            elif line.startswith(b"event:"):
                self._event = line[6:].strip()
            return None  # comments (":"), id, retry and unknown fields carry nothing
        if not self._data:
            self._event = b""
            return None
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        self._data.clear()
        event, self._event = self._event, b""
        if data == b"[DONE]":
            self.done = True
            return None
        try:
            parsed = jsonio.loads(data)
        except ValueError:  # invalid JSON or UTF-8
            parsed = None
        if not isinstance(parsed, dict):
            shown = data[:80].decode("utf-8", "replace")
            if self._secret:
                shown = shown.replace(self._secret, "***")
            raise ProviderError(
                "bad_response",
                f"malformed event in the stream (data is not a JSON object): {shown!r}",
                200,
                provider_id=self.provider_id,
            )
        if event == b"error" or parsed.get("error"):
            raise inband_error(parsed.get("error") or parsed, self.provider_id, self._secret)
        return read_chunk(parsed, self.provider_id)

    def end(self) -> None:
        """The body is over: raises unless ``[DONE]`` arrived (an unended last line is read
        as a line; an event without its blank line is incomplete and dropped, as in SSE)."""
        if self._failure is not None:
            raise self._failure
        if self._buffer and not self.done:
            line, self._buffer = self._buffer.rstrip(b"\r"), b""
            self._line(line)
        if not self.done:
            raise ProviderError(
                "bad_response",
                "the stream ended without [DONE]",
                200,
                provider_id=self.provider_id,
            )
