"""A built-in OpenAI-compatible chat client on httpx, carried through the fallback chain.

:func:`chat` / :func:`achat` post to ``{base_url}/chat/completions`` of the requested model's
provider, with the provider's model string and ``Authorization: Bearer`` from its key variable
(read at call time; an unset variable is an ``auth`` failure, never a crash), and fall back
like :func:`resolver.call_with_fallback`. Extra keywords (``temperature``, ``response_format``,
``max_tokens``...) go into the request body unchanged.

Connections are pooled: one :class:`Client` per process by default, holding one
``httpx.Client`` and one ``httpx.AsyncClient`` per event loop, created on first use. Close it
with :func:`close` / :func:`aclose` (it is closed at interpreter exit otherwise), or own a
:class:`Client` yourself as a context manager.

This module imports httpx; ``import resolver`` does not, until a chat is made.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import threading
import weakref
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from .catalog import ErrorClass, Provider
from .classify import Classify, classify_status, parse_retry_after
from .errors import ProviderError, UnsupportedParameter, mask_secrets
from .execute import Listener, Outcome, acall_with_fallback, call_with_fallback, time_left
from .resolve import Resolver

__all__ = ["ChatResult", "Client", "achat", "aclose", "chat", "close", "default_client"]

DEFAULT_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64)


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A parsed chat completion."""

    content: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    model: str | None
    """The model string the vendor reports having used."""
    provider_id: str
    status: int
    raw: dict[str, Any] = field(repr=False, compare=False)
    """The whole response body, as JSON."""


class Client:
    """Pooled HTTP clients for chat calls. One is shared by :func:`chat` and :func:`achat`;
    make your own to choose limits or to close it with the code that owns it."""

    def __init__(self, *, limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._sync: httpx.Client | None = None
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def sync(self) -> httpx.Client:
        client = self._sync
        if client is None:
            with self._lock:
                client = self._sync
                if client is None:
                    client = self._sync = httpx.Client(limits=self._limits)
        return client

    async def async_client(self) -> httpx.AsyncClient:
        """The async client of the running event loop (an AsyncClient cannot cross loops).

        It is closed when the loop shuts down through ``asyncio.run`` (or anything else that
        calls ``loop.shutdown_asyncgens()``), so short-lived loops leave no sockets open.
        """
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is None:
            client = httpx.AsyncClient(limits=self._limits)
            closer = _close_at_loop_shutdown(client)
            self._async[loop] = (client, closer)  # the loop tracks its generators weakly
            await closer.__anext__()
            return client
        return entry[0]

    def close(self) -> None:
        """Close the sync pool; async pools are dropped with their loops (or :meth:`aclose`)."""
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the sync pool and the running loop's async pool."""
        self.close()
        entry = self._async.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[0].aclose()

    # one attempt on one provider

    def call(
        self,
        provider: Provider,
        messages: Sequence[Any],
        params: Mapping[str, Any],
        environ: Mapping[str, str] | None,
    ) -> ChatResult:
        url, headers, body, timeout = _request(provider, messages, params, environ)
        try:
            response = self.sync.post(url, headers=headers, content=body, timeout=timeout)
        except httpx.HTTPError as exc:
            failure = _transport_error(provider, exc)
        else:
            return _parse(
                provider, response.status_code, response.headers, response.content, headers
            )
        raise failure  # unchained, out of the handler: httpx's error keeps the request's key

    async def acall(
        self,
        provider: Provider,
        messages: Sequence[Any],
        params: Mapping[str, Any],
        environ: Mapping[str, str] | None,
    ) -> ChatResult:
        url, headers, body, timeout = _request(provider, messages, params, environ)
        try:
            # httpx's timeout bounds each read; the outer one bounds the whole response.
            async with asyncio.timeout(timeout.read):
                client = await self.async_client()
                response = await client.post(url, headers=headers, content=body, timeout=timeout)
        except httpx.HTTPError as exc:
            failure = _transport_error(provider, exc)
        except TimeoutError as exc:
            raise ProviderError(
                "timeout", f"no response within {timeout.read:g}s", provider_id=provider.id
            ) from exc
        else:
            return _parse(
                provider, response.status_code, response.headers, response.content, headers
            )
        raise failure  # unchained, out of the handler: httpx's error keeps the request's key


async def _close_at_loop_shutdown(client: httpx.AsyncClient) -> AsyncGenerator[None, None]:
    # Suspended at its yield until the loop's shutdown_asyncgens() closes it.
    try:
        yield
    finally:
        await client.aclose()


_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The process-wide :class:`Client` used when none is passed."""
    global _default
    client = _default
    if client is None:
        with _default_lock:
            client = _default
            if client is None:
                client = _default = Client()
                atexit.register(client.close)
    return client


def close() -> None:
    """Close the default client's pooled connections (a later chat opens new ones)."""
    if _default is not None:
        _default.close()


async def aclose() -> None:
    """Close the default client's pools, the running loop's async pool included."""
    if _default is not None:
        await _default.aclose()


def chat(
    model_id: str,
    messages: Sequence[Any],
    *,
    resolver: Resolver | None = None,
    environ: Mapping[str, str] | None = None,
    deadline_s: float | None = None,
    on_event: Listener | None = None,
    classify: Classify | None = None,
    client: Client | None = None,
    **params: Any,
) -> Outcome[ChatResult]:
    """Ask ``model_id`` for a chat completion, falling back through its backups.

    ``messages`` is the OpenAI ``messages`` list; ``params`` go into the request body as they
    are. The other keywords are :func:`resolver.call_with_fallback`'s, and ``client`` picks the
    connection pool. Returns an :class:`~resolver.execute.Outcome` whose ``value`` is a
    :class:`ChatResult`.
    """
    _refuse_unsupported(params)
    pool = client or default_client()
    return call_with_fallback(
        model_id,
        lambda provider: pool.call(provider, messages, params, environ),
        resolver=resolver,
        environ=environ,
        deadline_s=deadline_s,
        on_event=on_event,
        classify=classify,
    )


async def achat(
    model_id: str,
    messages: Sequence[Any],
    *,
    resolver: Resolver | None = None,
    environ: Mapping[str, str] | None = None,
    deadline_s: float | None = None,
    on_event: Listener | None = None,
    classify: Classify | None = None,
    client: Client | None = None,
    **params: Any,
) -> Outcome[ChatResult]:
    """:func:`chat` for asyncio. Cancelling it cancels the request in flight."""
    _refuse_unsupported(params)
    pool = client or default_client()
    return await acall_with_fallback(
        model_id,
        lambda provider: pool.acall(provider, messages, params, environ),
        resolver=resolver,
        environ=environ,
        deadline_s=deadline_s,
        on_event=on_event,
        classify=classify,
    )


def _refuse_unsupported(params: Mapping[str, Any]) -> None:
    # A vendor answers stream=True with an event stream that this client cannot read: refused
    # here, before any request, rather than charged to every provider as a bad response.
    if params.get("stream"):
        raise UnsupportedParameter(
            "stream=True",
            "chat() and achat() read one JSON answer and do not stream; nothing was sent "
            "(drop stream, or stream with your own client through call_with_fallback)",
        )


# --- wire format -------------------------------------------------------------------------------


def _request(
    provider: Provider,
    messages: Sequence[Any],
    params: Mapping[str, Any],
    environ: Mapping[str, str] | None,
) -> tuple[str, dict[str, str], bytes, httpx.Timeout]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key_env = provider.api_key_env
    if key_env is not None:
        key = (os.environ if environ is None else environ).get(key_env)
        if not key:
            message = f"key variable {key_env} is not set"
            raise ProviderError("auth", message, provider_id=provider.id)
        headers["Authorization"] = f"Bearer {key}"
    seconds = provider.timeout_s
    left = time_left()
    if left is not None:
        seconds = max(0.001, min(seconds, left))
    body = json.dumps({**params, "model": provider.model, "messages": list(messages)}).encode()
    url = provider.base_url.rstrip("/") + "/chat/completions"
    return url, headers, body, httpx.Timeout(seconds)


def _transport_error(provider: Provider, exc: httpx.HTTPError) -> ProviderError:
    kind: ErrorClass = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
    detail = str(exc) or type(exc).__name__
    return ProviderError(kind, f"{type(exc).__name__}: {detail}", provider_id=provider.id)


def _parse(
    provider: Provider,
    status: int,
    headers: httpx.Headers,
    content: bytes,
    sent: Mapping[str, str],
) -> ChatResult:
    try:
        return _parse_body(provider, status, headers, content)
    except ProviderError as exc:
        error = exc
    # Never let a key value out in a message, even if a vendor echoes the request back. Raised
    # out of the handler, so that the unmasked original is not kept as __context__.
    key = sent.get("Authorization", "").removeprefix("Bearer ")
    masked = mask_secrets(error.message, [key])
    if masked != error.message:
        error = ProviderError(
            error.error_class, masked, error.status, error.retry_after, provider_id=provider.id
        )
    raise error


def _parse_body(
    provider: Provider, status: int, headers: httpx.Headers, content: bytes
) -> ChatResult:
    try:
        data: Any = json.loads(content) if content else None
    except ValueError:
        data = None
    if status >= 400:
        message = _error_message(data, content)
        raise ProviderError(
            classify_status(status, message),
            message,
            status,
            parse_retry_after(headers.get("retry-after")),
            provider_id=provider.id,
        )
    if headers.get("content-type", "").startswith("text/event-stream"):
        # An event stream answers a request that asked for one (a streaming parameter): the
        # request's doing, so bad_request, which neither falls back nor counts against health.
        raise ProviderError(
            "bad_request",
            "the vendor answered with an event stream, which this client does not read: a "
            "parameter of the request asked for streaming",
            status,
            provider_id=provider.id,
        )
    if not isinstance(data, dict):
        raise ProviderError(
            "bad_response",
            f"response is not a JSON object: {_snippet(content)}",
            status,
            provider_id=provider.id,
        )
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ProviderError(
            "bad_response", "response has no choices", status, provider_id=provider.id
        )
    choice = choices[0]
    reply = choice.get("message")
    text = reply.get("content") if isinstance(reply, dict) else None
    finish = choice.get("finish_reason")
    if finish == "content_filter" and not text:
        raise ProviderError(
            "content_policy",
            "the vendor's content filter withheld the answer",
            status,
            provider_id=provider.id,
        )
    usage = data.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    return ChatResult(
        content=text if isinstance(text, str) else None,
        finish_reason=finish if isinstance(finish, str) else None,
        prompt_tokens=_int(usage.get("prompt_tokens")),
        completion_tokens=_int(usage.get("completion_tokens")),
        total_tokens=_int(usage.get("total_tokens")),
        model=data.get("model") if isinstance(data.get("model"), str) else None,
        provider_id=provider.id,
        status=status,
        raw=data,
    )


def _error_message(data: Any, content: bytes) -> str:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            parts = [str(error[k]) for k in ("message", "code") if error.get(k)]
            if parts:
                return _clip(" / ".join(parts))
        if isinstance(error, str):
            return _clip(error)
        if isinstance(data.get("message"), str):
            return _clip(data["message"])
    return _snippet(content)


def _snippet(content: bytes) -> str:
    text = content[:200].decode("utf-8", "replace").strip()
    return repr(text) if text else "empty body"


def _clip(text: str) -> str:
    return text if len(text) <= 300 else text[:297] + "..."


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
