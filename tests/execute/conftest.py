"""Fixtures of the execution tests: the shipped prod config with no server behind it, for calls
made through users' own functions."""

from __future__ import annotations

import pytest

from resolver import Resolver
from resolver.testing import make_resolver


@pytest.fixture(scope="session")
def _shipped() -> Resolver:
    return make_resolver(env="prod")


@pytest.fixture
def shipped(_shipped: Resolver) -> Resolver:
    """The shipped prod config with fresh health and counts."""
    return _shipped.with_health()
