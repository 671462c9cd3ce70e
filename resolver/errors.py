"""Exceptions raised by the resolver, and the problems a configuration can have.

Every exception the library raises on purpose derives from one base::

    ResolverError
     └── ConfigError        the composed configuration is invalid; .problems lists every problem

A :class:`Problem` is one finding of validation: an error (loading stops) or a warning (loading
goes on, unless ``strict=True``). Each names where it is (a file and key path, or a command-line
override), what is wrong, and a hint where one helps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

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


def did_you_mean(name: str, options: Iterable[str]) -> str | None:
    """A hint naming the closest known option to a misspelt ``name``, if one is close."""
    from difflib import get_close_matches

    close = get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None
