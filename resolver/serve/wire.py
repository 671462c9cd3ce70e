"""What the gateway sends: OpenAI's error shape, the status of each failure, attribution headers.

Errors are ``{"error": {"message", "type", "param", "code"}}`` as OpenAI sends them, so that
every OpenAI client raises its usual exception class; a failed fallback call adds ``attempts``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ..errors import (
    Attempt,
    FallbackExhausted,
    ModelUnavailable,
    ProviderError,
    Skip,
    StreamInterrupted,
    UnsupportedParameter,
)
from ..health import OUT_OF_ROTATION

_second: tuple[int, str] = (0, "")


def timestamp(now: float | None = None) -> str:
    """``now`` (default: now) in UTC as ISO 8601 with milliseconds, for log lines (the
    second's text is reused: a line per request need not format a date)."""
    if now is None:
        now = time.time()
    second = int(now)
    global _second
    if _second[0] != second:
        _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_second[1]}.{int((now - second) * 1000):03d}Z"


REQUESTED = "x-fallback-requested"
SERVED_BY = "x-fallback-served-by"
ATTEMPTS = "x-fallback-attempts"
GROUP = "x-fallback-group"
"""The group the serving deployment was picked from, when it was picked from one."""
SKIPPED = "x-fallback-skipped"
"""The deployments passed over without a call, each with why in a word:
``deepseek-r1=scope, kimi-k2-instruct=health``."""


def skip_kind(skip: Skip) -> str:
    """Why a deployment was passed over, in a word: scope, budget, limited, health or unusable
    (disabled, key unset, a smaller context window, an edge not taken on this class)."""
    if skip.scope is not None:
        return "scope"
    if skip.budget is not None:
        return "budget"
    if skip.limited:
        return "limited"
    return "health" if skip.reason.startswith(OUT_OF_ROTATION) else "unusable"


def skipped_header(skipped: Sequence[Skip]) -> str:
    return ", ".join(f"{s.provider_id}={skip_kind(s)}" for s in skipped)


CLIENT_GONE = 499
"""The status logged for a client that went away before its answer (nginx's): never a 200, never
a 500, and never charged to a provider."""


class ClientGone(Exception):
    """The client hung up (while sending its body, or before its answer started)."""


class ClientError(Exception):
    """A request the gateway refuses before any call: its status and OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.error_type = error_type

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, code=self.code, param=self.param)


def error_body(
    message: str,
    error_type: str,
    *,
    code: str | None = None,
    param: str | None = None,
    attempts: Sequence[Attempt] | None = None,
    skipped: Sequence[Skip] = (),
) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": error_type, "param": param, "code": code}
    if attempts is not None:
        # What was passed over without a call comes after what was tried, marked "skipped".
        error["attempts"] = [asdict(a) for a in attempts] + [
            {"provider_id": s.provider_id, "error_class": None, "status": None,
             "message": s.reason, "seconds": 0.0, "skipped": skip_kind(s)}
            for s in skipped
        ]  # fmt: skip
    return {"error": error}


def failure(exc: Exception) -> tuple[int, dict[str, Any]] | None:
    """The status and body for an error of a call through the chain (None: not one of ours)."""
    if isinstance(exc, ClientError):
        return exc.status, exc.body()
    if isinstance(exc, ClientGone):  # nobody reads it: the status is for the log and metrics
        return CLIENT_GONE, error_body("the client closed the connection", "client_closed")
    if isinstance(exc, ModelUnavailable):
        return 404, error_body(str(exc), "invalid_request_error", code="model_not_found")
    if isinstance(exc, UnsupportedParameter):
        return 400, error_body(str(exc), "invalid_request_error", code="unsupported_parameter")
    if isinstance(exc, FallbackExhausted) and exc.over_budget:
        # A spent budget: as OpenAI says of a spent quota (retrying soon will not help).
        return 429, error_body(str(exc), "insufficient_quota", code="insufficient_quota")
    if isinstance(exc, FallbackExhausted) and exc.limited:
        # Our own rpm/tpm limits: the client should slow down, as a vendor's 429 says.
        return 429, error_body(str(exc), "rate_limit_error", code="rate_limit_exceeded")
    if isinstance(exc, FallbackExhausted):
        # Our own deadline ended it (the client's x-fallback-deadline-s or the policy's): a
        # gateway timeout; otherwise every upstream failed: a bad gateway.
        timed_out = exc.reason.startswith("deadline")
        status, code = (504, "deadline_exceeded") if timed_out else (502, "fallback_exhausted")
        return status, error_body(
            str(exc), "server_error", code=code, attempts=exc.attempts, skipped=exc.skipped
        )
    if isinstance(exc, StreamInterrupted):
        code = "stream_interrupted"
        return 502, error_body(str(exc), "server_error", code=code, attempts=exc.attempts)
    if isinstance(exc, ProviderError):
        # A failure that does not fall back: about the request itself (400, as the vendor
        # worded it), or the upstream's (502; a vendor's 401 is no fault of the client's key).
        status = 400 if exc.error_class in _THE_REQUESTS else 502
        error_type = "invalid_request_error" if status == 400 else "server_error"
        return status, error_body(str(exc), error_type, code=exc.error_class, attempts=exc.attempts)
    return None


_THE_REQUESTS = ("bad_request", "context_window", "content_policy")
