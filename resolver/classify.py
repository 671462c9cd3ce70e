"""How a failure gets its error class: the built-in rules and a user's ``classify``.

First match wins:

1. ``classify(exc)``, if the caller passes one, returns an error class or None (None: go on);
2. a :class:`~resolver.errors.ProviderError` carries its class (the built-in client raises it;
   raise it from your own ``fn`` too);
3. an exception with an integer ``status_code`` (httpx's and the OpenAI SDK's status errors,
   via ``.status_code`` or ``.response.status_code``) is classed by HTTP status and message;
4. timeouts are ``timeout`` and connection failures ``connection``: Python's ``TimeoutError``
   and ``ConnectionError``, httpx's (and its fork httpx2's) timeouts and transport errors, and
   the SDKs' ``APITimeoutError``/``APIConnectionError`` (OpenAI, Anthropic and the other SDKs
   generated the same way), known by class name so that no SDK is imported here.

Rules 2-4 also look down the exception's ``__cause__`` chain (``raise ... from``), since SDKs
wrap their transport's exceptions; never down ``__context__``, where an unrelated bug raised
while handling a timeout would otherwise pass for the timeout.

Anything else gets no class: the executor re-raises it unchanged.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from .catalog import ErrorClass
from .errors import ProviderError, holds_secret, mask_secrets

Classify = Callable[[BaseException], "ErrorClass | None"]

_CONTEXT_RE = re.compile(
    r"context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long"
    r"|token limit|reduce the length",
    re.IGNORECASE,
)
_POLICY_RE = re.compile(
    r"content[ _-]?(policy|filter|management)|safety|moderation|flagged", re.IGNORECASE
)


def classify_status(status: int, message: str = "") -> ErrorClass:
    """The error class of an HTTP error status, refined by the vendor's error message."""
    if status == 429:
        return "rate_limit"
    if status in (401, 403):
        return "auth"
    if status in (408, 504):
        return "timeout"
    if status == 404:  # e.g. model_not_found: this route lacks the model, another may have it
        return "not_found"
    if status == 413 or (400 <= status < 500 and _CONTEXT_RE.search(message)):
        return "context_window"
    if 400 <= status < 500 and _POLICY_RE.search(message):
        return "content_policy"
    if status >= 500:
        return "server"
    return "bad_request"


@dataclass(frozen=True, slots=True)
class Failure:
    error_class: ErrorClass
    status: int | None
    message: str
    retry_after: float | None

    @property
    def detail(self) -> str:
        """What health keeps beside the class as the last error: the HTTP status, if any."""
        return str(self.status) if self.status is not None else ""


def classify(
    exc: Exception, classify: Classify | None, secrets: Collection[str] = ()
) -> Failure | None:
    """The failure ``exc`` stands for, or None when no rule knows it. ``secrets`` (the keys
    sent) are masked in the failure's message."""
    if classify is not None:
        chosen = classify(exc)
        if chosen is not None:
            status = exc.status if isinstance(exc, ProviderError) else _status_of(exc)
            return Failure(chosen, status, _message(exc, secrets), _retry_after_of(exc))
    for link in _causes(exc):
        found = _builtin(link, secrets)
        if found is not None:
            return found
    return None


def scrubbed(
    exc: Exception, failure: Failure, provider_id: str, secrets: Collection[str]
) -> Exception:
    """``exc`` itself, or, when a key value is anywhere in it (message, attributes, chain), a
    :class:`~resolver.errors.ProviderError` of the same failure that carries only the masked
    message: what the library chains or re-raises in its place."""
    if not holds_secret(exc, secrets):
        return exc
    return ProviderError(
        failure.error_class,
        failure.message,
        failure.status,
        failure.retry_after,
        provider_id=provider_id,
    )


def _builtin(exc: BaseException, secrets: Collection[str]) -> Failure | None:
    if isinstance(exc, ProviderError):
        message = mask_secrets(exc.message, secrets)
        return Failure(exc.error_class, exc.status, message, exc.retry_after)
    status = _status_of(exc)
    if status is not None and status >= 400:
        message = _message(exc, secrets)
        return Failure(classify_status(status, message), status, message, _retry_after_of(exc))
    by_name = _by_name(type(exc))
    if by_name is not None:
        return Failure(by_name, None, _message(exc, secrets), None)
    if isinstance(exc, TimeoutError):
        return Failure("timeout", None, _message(exc, secrets), None)
    if isinstance(exc, ConnectionError):
        return Failure("connection", None, _message(exc, secrets), None)
    return None


_MAX_CAUSES = 8  # a bound against a pathological chain; real wrappers go two or three deep


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and len(chain) < _MAX_CAUSES and link not in chain:
        chain.append(link)
        link = link.__cause__
    return chain


# Transport and SDK exceptions by class name, so that none of those packages is imported (the
# OpenAI SDK runs on httpx2, not httpx: an isinstance check against httpx would miss it). None:
# any module (the SDKs generated by Stainless share these names); else the modules that own it.
_NAMES: dict[str, tuple[ErrorClass, frozenset[str] | None]] = {
    "APITimeoutError": ("timeout", None),
    "APIConnectionError": ("connection", None),
    "TimeoutException": ("timeout", frozenset({"httpx", "httpx2", "httpcore"})),
    "TransportError": ("connection", frozenset({"httpx", "httpx2"})),
    "NetworkError": ("connection", frozenset({"httpcore"})),
}


def _by_name(cls: type[BaseException]) -> ErrorClass | None:
    for klass in cls.__mro__:  # most derived first: APITimeoutError before APIConnectionError
        known = _NAMES.get(klass.__name__)
        if known is not None:
            error_class, modules = known
            if modules is None or klass.__module__.partition(".")[0] in modules:
                return error_class
    return None


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def _retry_after_of(exc: BaseException) -> float | None:
    if isinstance(exc, ProviderError):
        return exc.retry_after
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        # By name in any case: a plain mapping keeps the names as the server spelled them.
        value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
        return parse_retry_after(value)
    except Exception:  # a foreign object with odd headers: no hint rather than a crash
        return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _message(exc: BaseException, secrets: Collection[str] = ()) -> str:
    # Masked before clipping, so that a cut never leaves half a key behind.
    text = mask_secrets(str(exc) or type(exc).__name__, secrets)
    return text if len(text) <= 500 else text[:497] + "..."
