"""Exceptions raised by the resolver, and the problems a configuration can have.

Every exception the library raises on purpose derives from one base::

    ResolverError
     ├── ConfigError            the composed configuration is invalid; .problems lists every problem
     ├── ModelUnavailable       a call asked for a model that is unknown or disabled (a LookupError)
     ├── UnsupportedParameter   a call passed a parameter the built-in client cannot honour (a
     │                          ValueError), e.g. ``stream=True``; nothing was sent
     ├── SnapshotError          a compiled snapshot is stale (another package version), was edited
     │                          after compiling, or is truncated; .path names the file
     ├── ProviderError          one call to one provider failed, with its error class; raise it
     │                          from your own ``fn`` to say which class a failure is
     ├── FallbackExhausted      every candidate of a call failed (or a bound cut the chain);
     │                          .attempts lists them all, ``__cause__`` is the last error
     └── StreamInterrupted      a stream broke after content had reached the caller; .partial
                                is what was sent, .attempts every call, ``__cause__`` the break

A :class:`Problem` is one finding of validation: an error (loading stops) or a warning (loading
goes on, unless ``strict=True``). Each names where it is (a file and key path, or a command-line
override), what is wrong, and a hint where one helps.
"""

from __future__ import annotations

import types
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .catalog import ERROR_CLASSES, ErrorClass, mask_keylike

Severity = Literal["error", "warning"]


_HIDDEN = frozenset(("Cc", "Cf", "Zl", "Zp"))
"""Unicode categories a terminal obeys or hides rather than shows: controls (escape sequences),
format characters (bidirectional overrides, zero-width spaces), line and paragraph separators."""


def hidden_char(text: str) -> str | None:
    """The first control or invisible character of ``text``, if any."""
    if text.isprintable():
        return None
    return next((c for c in text if unicodedata.category(c) in _HIDDEN), None)


def printable(text: str) -> str:
    """``text`` with each control or invisible character written as its escape, so that a
    terminal shows it rather than obeys it."""
    if hidden_char(text) is None:
        return text
    return "".join(
        c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in _HIDDEN else c
        for c in text
    )


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
        # A problem may quote an override or a value with a URL or a pasted key in it; neither
        # the password nor the key is repeated, whichever output shows the problem.
        for name in ("message", "file", "hint"):
            text = getattr(self, name)
            if text is not None:
                object.__setattr__(self, name, mask_keylike(text))

    @property
    def location(self) -> str:
        where = [part for part in (self.file, self.key) if part]
        return ": ".join(where) if where else "configuration"

    def __str__(self) -> str:
        text = f"{self.severity} [{self.code}] {self.location}: {self.message}"
        # Every part may quote config text, and this line is what reaches a terminal.
        return printable(f"{text} (hint: {self.hint})" if self.hint else text)


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


class UnsupportedParameter(ResolverError, ValueError):
    """A call passed a parameter the built-in client cannot honour; it was refused before any
    request was sent, so no provider was charged with it."""

    def __init__(self, param: str, reason: str) -> None:
        self.param = param
        self.reason = reason
        super().__init__(f"{param}: {reason}")


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
        self.limited = not self.attempts and any(s.limited for s in self.skipped)
        """Nothing was sent because every candidate left was at its rpm/tpm limit."""
        self.over_budget = not self.attempts and any(s.budget for s in self.skipped)
        """Nothing was sent, and a budget with no room passed a candidate over."""
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


class StreamInterrupted(ResolverError):
    """A stream broke after content had been passed to the caller, so it could not fall back
    silently: ``partial`` is all the content the caller received, ``provider_id`` the provider
    whose stream broke last, ``error_class`` why, ``attempts`` every call made (the broken
    ones included). A broken stream never ends like a complete one; this is how it ends."""

    def __init__(
        self,
        requested: str,
        provider_id: str,
        error_class: ErrorClass,
        partial: str,
        attempts: Sequence[Attempt],
        *,
        reason: str = "",
    ) -> None:
        self.requested = requested
        self.provider_id = provider_id
        self.error_class: ErrorClass = error_class
        self.partial = partial
        self.attempts: tuple[Attempt, ...] = tuple(attempts)
        self.reason = reason
        why = f"; {reason}" if reason else ""
        super().__init__(
            f"{requested}: stream from {provider_id} broke after {len(partial)} characters of "
            f"content ({error_class}{why})"
        )

    def __reduce__(self) -> Any:
        return (
            _rebuild_interrupted,
            (
                self.requested,
                self.provider_id,
                self.error_class,
                self.partial,
                self.attempts,
                self.reason,
            ),
        )


def _rebuild_interrupted(
    requested: str,
    provider_id: str,
    error_class: ErrorClass,
    partial: str,
    attempts: Sequence[Attempt],
    reason: str,
) -> StreamInterrupted:
    return StreamInterrupted(requested, provider_id, error_class, partial, attempts, reason=reason)


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

    @property
    def sent(self) -> bool:
        """False when the request never left: it waited in our own queue (class ``local``)."""
        return self.error_class != "local"

    def __str__(self) -> str:
        if self.ok:
            return f"{self.provider_id}: ok in {self.seconds:.3f}s"
        if not self.sent:
            return f"{self.provider_id}: not sent, queued {self.seconds:.3f}s: {self.message}"
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
    limited: bool = False
    """Passed over for its own ``rpm``/``tpm`` limit: never sent, never charged to health."""
    budget: str | None = None
    """The budget that had no room for it (``budgets:``): never sent, never charged to health."""
    scope: str | None = None
    """The caller whose scope it is outside (a gateway client): never sent."""

    def __str__(self) -> str:
        return f"{self.provider_id}: {self.reason}"


def mask_secrets(text: str, secrets: Collection[str]) -> str:
    """``text`` with every occurrence of each secret (a key value) replaced by ``***``."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text


# How far holds_secret looks: an SDK error keeps its HTTP response, which keeps its request,
# which keeps the request headers (Authorization among them) about six references down.
_MAX_DEPTH = 10
_MAX_OBJECTS = 5000


def holds_secret(exc: BaseException, secrets: Collection[str]) -> bool:
    """True when a secret appears anywhere ``exc`` reaches: its message and args, its
    attributes and theirs (an SDK error's response and request headers), its notes, and its
    ``__cause__``/``__context__`` chain. Tracebacks are not followed: their frames hold the
    caller's own variables, which are not part of the error. An error that reaches more than
    can be read (too deep, too many objects) counts as holding one: it cannot be shown clean."""
    wanted = [s for s in secrets if s]
    if not wanted:
        return False
    raw = [s.encode() for s in wanted]
    seen: set[int] = set()
    todo: list[tuple[object, int]] = [(exc, 0)]
    while todo:
        obj, depth = todo.pop()
        if isinstance(obj, str):
            if any(s in obj for s in wanted):
                return True
            continue
        if isinstance(obj, bytes | bytearray | memoryview):
            data = bytes(obj)
            if any(s in data for s in raw):
                return True
            continue
        if obj is None or id(obj) in seen:
            continue
        children = _references(obj)
        if children and (depth >= _MAX_DEPTH or len(seen) >= _MAX_OBJECTS):
            return True
        seen.add(id(obj))
        todo.extend((child, depth + 1) for child in children)
    return False


# Not data of the error: numbers, classes, code, and tracebacks with their frames.
_OPAQUE = (
    type,
    int,
    float,
    complex,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.TracebackType,
    types.FrameType,
    types.CodeType,
)


def _references(obj: object) -> list[object]:
    """What ``obj`` holds that a reader of the error could get at."""
    try:
        return _held_by(obj)
    except Exception:  # a foreign object whose attribute access misbehaves: nothing readable
        return []


def _held_by(obj: object) -> list[object]:
    if isinstance(obj, _OPAQUE):
        return []
    if isinstance(obj, dict):
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list | tuple | set | frozenset):
        return list(obj)
    found: list[object] = []
    if isinstance(obj, BaseException):
        found += [obj.args, obj.__cause__, obj.__context__, getattr(obj, "__notes__", None)]
    found += list(getattr(obj, "__dict__", {}).values())
    for klass in type(obj).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot not in ("__dict__", "__weakref__"):
                found.append(getattr(obj, slot, None))
    return found


def install_hint(extra: str) -> str:
    """How to install the optional ``extra``: the form that works from a checkout first (the
    package may not be on the index pip reads), then the one for an installed package."""
    return f"pip install '.[{extra}]' from a checkout, or pip install 'fallback-resolver[{extra}]'"


def did_you_mean(name: object, options: Iterable[object]) -> str | None:
    """A hint naming the closest known option to a misspelt ``name``, if one is close. Keys
    YAML reads as numbers (``2024:``) are compared as the text they were written as."""
    close = closest(str(name), [str(o) for o in options])
    if close is None:
        return None
    if _fold(close) == _fold(str(name)) and close.casefold() != str(name).casefold():
        # Not only a letter case: shown side by side, the two would read the same.
        return (
            f"did you mean {close!r}? (it looks the same, but is written with other code "
            "points: a look-alike letter, a typographic dash, or a separate accent)"
        )
    return f"did you mean {close!r}?"


def closest(name: str, options: Sequence[str]) -> str | None:
    """The option ``name`` most likely meant, or None. Letter case, Unicode compatibility
    forms (fullwidth letters) and look-alike characters (Cyrillic letters, typographic dashes)
    are not differences a reader sees, so they count for nothing: ``GPT-OSS-20B`` means
    ``gpt-oss-20b``. What is left is compared for spelling."""
    from difflib import get_close_matches

    by_fold: dict[str, str] = {}
    for option in options:
        by_fold.setdefault(_fold(option), option)
    folded = _fold(name)
    if folded in by_fold:
        return by_fold[folded] if by_fold[folded] != name else None
    close = get_close_matches(folded, list(by_fold), n=1, cutoff=0.6)
    return by_fold[close[0]] if close else None


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().translate(_LOOKALIKES)


_LOOKALIKES = str.maketrans(
    {
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63", "-"),
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"'),
        # Cyrillic and Greek letters drawn like Latin ones (after casefolding).
        **dict(zip("аеорсухіјѕԁһԛԝοαντκιρ", "aeopcyxijsdhqwoavtkip", strict=True)),
    }
)
"""Characters drawn like ASCII ones, mapped to them for comparison only."""
