"""pytest fixtures for testing code that uses the resolver.

Enable in a ``conftest.py`` with ``pytest_plugins = ["resolver.pytest_plugin"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .resolve import Resolver
from .testing import ChatServer, make_resolver, use_resolver


@pytest.fixture
def fallback_resolver_factory() -> Iterator[Callable[..., Resolver]]:
    """Build resolvers with :func:`resolver.testing.make_resolver`'s keywords.

    Each one built is also the process-wide default until the test ends, so module-level
    lookups in the code under test see it; the previous default comes back afterwards.
    """
    pins: list[Any] = []

    def build(**kwargs: Any) -> Resolver:
        built = make_resolver(**kwargs)
        pin = use_resolver(built)
        pin.__enter__()
        pins.append(pin)
        return built

    yield build
    for pin in reversed(pins):
        pin.__exit__(None, None, None)


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A :class:`resolver.testing.ChatServer` on loopback for the test; stopped afterwards.

    Point a resolver at it with ``make_resolver(overrides=chat_server.overrides())``.
    """
    with ChatServer() as server:
        yield server
