"""Exceptions raised by the resolver, and the problems a configuration can have.

Every exception the library raises on purpose derives from one base::

    ResolverError
     ├── ConfigError            the composed configuration is invalid; .problems lists every problem
     ├── ModelUnavailable       a call asked for a model that is unknown or disabled (a LookupError)
     ├── SnapshotError          a compiled snapshot is stale (another package version), was edited
     │                          after compiling, or is truncated; .path names the file
     ├── ProviderError          one call to one provider failed, with its error class; raise it
     │                          from your own ``fn`` to say which class a failure is
     └── FallbackExhausted      every candidate of a call failed (or a bound cut the chain);
                                .attempts lists them all, ``__cause__`` is the last error

A :class:`Problem` is one finding of validation: an error (loading stops) or a warning (loading
goes on, unless ``strict=True``). Each names where it is (a file and key path, or a command-line
override), what is wrong, and a hint where one helps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .catalog import ERROR_CLASSES, ErrorClass, mask_url

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of validation, with a stable ``code`` that tests and tools can match."""

    code: str
    message: str
    severity: Severity = "error"
    key: str | None = None
    """Dotted key path in the composed configuration, e.g. ``fallbacks.kimi-k2-thinking-syn``."""
    file: str | None = None
    """Config file (or ``override '...'``) that set the key, when it is known."""
    hint: str | None = None

    def __post_init__(self) -> None:
        # A problem may quote an override or a value with a URL in it; its password is never
        # repeated, whichever output shows the problem.
        for name in ("message", "file", "hint"):
            text = getattr(self, name)
            if text is not None and "@" in text:
                object.__setattr__(self, name, mask_url(text))

    @property
    def location(self) -> str:
        where = [part for part in (self.file, self.key) if part]
        return ": ".join(where) if where else "configuration"

    def __str__(self) -> str:
        text = f"{self.severity} [{self.code}] {self.location}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class ResolverError(Exception):
    """Base of every exception the resolver raises on purpose."""


class ConfigError(ResolverError):
    """The configuration could not be composed or is invalid; nothing was loaded.

    ``problems`` holds every problem found in one pass, errors first.
    """

    def __init__(self, problems: Iterable[Problem], *, env: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(
            sorted(problems, key=lambda p: p.severity != "error")
        )
        self.env = env
        super().__init__(self._render())

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    def _render(self) -> str:
        errors = len(self.errors)
        warnings = len(self.problems) - errors
        counts = ", ".join(
            f"{n} {word}{'s' if n != 1 else ''}"
            for n, word in ((errors, "error"), (warnings, "warning"))
            if n
        )
        where = f" (env {self.env!r})" if self.env else ""
        return f"invalid fallback configuration{where}: {counts}\n" + "\n".join(
            f"  {p}" for p in self.problems
        )


class SnapshotError(ResolverError):
    """A compiled snapshot cannot be served: unreadable, truncated, edited, or stale."""

    def __init__(self, path: str | Path, reason: str, *, hint: str | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.hint = hint
        super().__init__(f"snapshot {self.path}: {reason}" + (f" (hint: {hint})" if hint else ""))


class ModelUnavailable(ResolverError, LookupError):
    """A call asked for a model id that is unknown, or disabled in this configuration."""

    def __init__(self, model_id: str, reason: str) -> None:
        self.model_id = model_id
        self.reason = reason
        super().__init__(f"cannot call {model_id!r}: {reason}")


class ProviderError(ResolverError):
    """One call to one provider failed, with the class of failure that decides what happens next.

    Raise it from your own ``fn`` to tell :func:`resolver.call_with_fallback` how a failure
    should be treated (``error_class`` is one of :data:`resolver.ERROR_CLASSES`)::

        raise ProviderError("rate_limit", "vendor said slow down", status=429, retry_after=2.0)

    The built-in client raises it for every failed chat call. ``attempts`` is filled in when the
    error leaves a fallback call unchanged because its class does not fall back (``bad_request``
    by default): then it lists every attempt of that call, this one last.
    """

    def __init__(
        self,
        error_class: ErrorClass,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
        *,
        provider_id: str | None = None,
    ) -> None:
        if error_class not in ERROR_CLASSES:
            raise ValueError(
                f"unknown error class {error_class!r}; use one of {', '.join(ERROR_CLASSES)}"
            )
        self.error_class: ErrorClass = error_class
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.provider_id = provider_id
        self.attempts: tuple[Attempt, ...] = ()
        where = f"{provider_id}: " if provider_id else ""
        code = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{where}{error_class}{code}: {message}")

    def __reduce__(self) -> Any:
        return (
            _rebuild_provider_error,
            (self.error_class, self.message, self.status, self.retry_after, self.provider_id),
        )


def _rebuild_provider_error(
    error_class: ErrorClass,
    message: str,
    status: int | None,
    retry_after: float | None,
    provider_id: str | None,
) -> ProviderError:
    return ProviderError(error_class, message, status, retry_after, provider_id=provider_id)


class FallbackExhausted(ResolverError):
    """No candidate of a fallback call served: each one tried failed, or a bound (deadline,
    ``max_attempts``) cut the chain. ``attempts`` lists every call made, ``skipped`` every
    backup passed over and why; the last error is chained as ``__cause__``."""

    def __init__(
        self,
        requested: str,
        attempts: Sequence[Attempt],
        skipped: Sequence[Skip] = (),
        *,
        reason: str = "every candidate failed",
    ) -> None:
        self.requested = requested
        self.attempts: tuple[Attempt, ...] = tuple(attempts)
        self.skipped: tuple[Skip, ...] = tuple(skipped)
        self.reason = reason
        tried = "; ".join(str(a) for a in self.attempts) or "nothing was tried"
        passed = "".join(f"; skipped {s}" for s in self.skipped)
        super().__init__(f"{requested}: no provider served ({reason}): {tried}{passed}")

    def __reduce__(self) -> Any:
        return (
            _rebuild_exhausted,
            (self.requested, self.attempts, self.skipped, self.reason),
        )


def _rebuild_exhausted(
    requested: str, attempts: Sequence[Attempt], skipped: Sequence[Skip], reason: str
) -> FallbackExhausted:
    return FallbackExhausted(requested, attempts, skipped, reason=reason)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one provider within a fallback call."""

    provider_id: str
    error_class: ErrorClass | None
    """None when this attempt served the call."""
    status: int | None
    message: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error_class is None

    def __str__(self) -> str:
        if self.ok:
            return f"{self.provider_id}: ok in {self.seconds:.3f}s"
        code = f" (HTTP {self.status})" if self.status is not None else ""
        return (
            f"{self.provider_id}: {self.error_class}{code} after {self.seconds:.3f}s: "
            f"{self.message}"
        )


@dataclass(frozen=True, slots=True)
class Skip:
    """A backup that was not called, and why (key unset, disabled, context window...)."""

    provider_id: str
    reason: str

    def __str__(self) -> str:
        return f"{self.provider_id}: {self.reason}"


def did_you_mean(name: object, options: Iterable[object]) -> str | None:
    """A hint naming the closest known option to a misspelt ``name``, if one is close. Keys
    YAML reads as numbers (``2024:``) are compared as the text they were written as."""
    from difflib import get_close_matches

    close = get_close_matches(str(name), [str(o) for o in options], n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None
