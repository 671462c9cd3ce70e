"""How a failure gets its error class: the built-in rules and a user's ``classify``.

First match wins:

1. ``classify(exc)``, if the caller passes one, returns an error class or None (None: go on);
2. a :class:`~resolver.errors.ProviderError` carries its class (the built-in client raises it;
   raise it from your own ``fn`` too);
3. an exception with an integer ``status_code`` (httpx's and the OpenAI SDK's status errors,
   via ``.status_code`` or ``.response.status_code``) is classed by HTTP status and message;
4. httpx timeouts and Python's ``TimeoutError`` are ``timeout``; httpx transport errors and
   Python's ``ConnectionError`` are ``connection``.

Anything else gets no class: the executor re-raises it unchanged.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from .catalog import ErrorClass
from .errors import ProviderError

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


def classify(exc: Exception, classify: Classify | None) -> Failure | None:
    if classify is not None:
        chosen = classify(exc)
        if chosen is not None:
            status = exc.status if isinstance(exc, ProviderError) else _status_of(exc)
            return Failure(chosen, status, _message(exc), _retry_after_of(exc))
    if isinstance(exc, ProviderError):
        return Failure(exc.error_class, exc.status, exc.message, exc.retry_after)
    status = _status_of(exc)
    if status is not None and status >= 400:
        message = _message(exc)
        return Failure(classify_status(status, message), status, message, _retry_after_of(exc))
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        if isinstance(exc, httpx.TimeoutException):
            return Failure("timeout", None, _message(exc), None)
        if isinstance(exc, httpx.TransportError):
            return Failure("connection", None, _message(exc), None)
    if isinstance(exc, TimeoutError):
        return Failure("timeout", None, _message(exc), None)
    if isinstance(exc, ConnectionError):
        return Failure("connection", None, _message(exc), None)
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
        return parse_retry_after(headers.get("retry-after"))
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


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."
