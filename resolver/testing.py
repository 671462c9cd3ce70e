"""Helpers for users' own test suites.

- :func:`make_resolver` builds a resolver from the shipped or your own configuration with
  overrides. It is never cached and never becomes the process-wide default.
- :func:`use_resolver` makes a resolver the process-wide default for a block, so code that
  calls ``resolver.get_fallback_provider(...)`` at module level sees your configuration.
- ``resolver.pytest_plugin`` wraps both as a fixture; enable it with
  ``pytest_plugins = ["resolver.pytest_plugin"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from . import default
from .load import load
from .resolve import Resolver

__all__ = ["make_resolver", "use_resolver"]


#: A fresh resolver, exactly as :func:`resolver.load` composes it (same keywords). It is never
#: cached and never becomes the process-wide default unless passed to :func:`use_resolver`.
make_resolver = load


@contextmanager
def use_resolver(resolver: Resolver) -> Iterator[Resolver]:
    """Within the block, the module-level lookups (and ``MODEL_FALLBACKS``/``ALL_PROVIDERS``)
    answer from ``resolver``, whatever ``RESOLVER_ENV`` says. Blocks nest."""
    default._pinned.append(resolver)
    try:
        yield resolver
    finally:
        default._pinned.remove(resolver)
