"""The process-wide default resolver, built lazily from the environment, one per env.

``RESOLVER_ENV`` names the env and ``RESOLVER_CONFIG_DIRS`` (``os.pathsep``-separated) adds
deployment config trees; both are read when a lookup asks for the default, so a resolver is
built at the first lookup, not at import.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from .catalog import Provider
from .load import load
from .resolve import Explanation, Resolver
from .stats import ModelStats

_cache: dict[tuple[str | None, tuple[str, ...]], Resolver] = {}
_lock = threading.Lock()
_pinned: list[Resolver] = []  # set by resolver.testing.use_resolver


def default_resolver(env: str | None = None) -> Resolver:
    """The cached resolver for ``env`` (default: ``RESOLVER_ENV``, else the shipped default)."""
    if _pinned:
        return _pinned[-1]
    name = env or os.environ.get("RESOLVER_ENV") or None
    dirs = tuple(d for d in os.environ.get("RESOLVER_CONFIG_DIRS", "").split(os.pathsep) if d)
    key = (name, dirs)
    found = _cache.get(key)
    if found is None:
        with _lock:
            found = _cache.get(key)
            if found is None:
                found = _cache[key] = load(env=name, config_dirs=dirs)
    return found


def get_fallback_provider(
    model_id: str, *, env: str | None = None, environ: Mapping[str, str] | None = None
) -> Provider | None:
    """:meth:`Resolver.get_fallback_provider` on the default resolver for ``env``."""
    return default_resolver(env).get_fallback_provider(model_id, environ=environ)


def get_fallback_chain(
    model_id: str, *, env: str | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Provider, ...]:
    """:meth:`Resolver.get_fallback_chain` on the default resolver for ``env``."""
    return default_resolver(env).get_fallback_chain(model_id, environ=environ)


def explain(
    model_id: str, *, env: str | None = None, environ: Mapping[str, str] | None = None
) -> Explanation:
    """:meth:`Resolver.explain` on the default resolver for ``env``."""
    return default_resolver(env).explain(model_id, environ=environ)


def stats(env: str | None = None) -> dict[str, ModelStats]:
    """:meth:`Resolver.stats` of the default resolver for ``env``: how its calls ended."""
    return default_resolver(env).stats()


def model_fallbacks(env: str | None = None) -> dict[str, str]:
    """The seed's ``MODEL_FALLBACKS``: the first configured backup of every enabled source whose
    first backup is enabled, whatever the keys in the environment."""
    r = default_resolver(env)
    return {
        source: targets[0]
        for source, targets in r.fallbacks.items()
        if targets and r.providers[source].enabled and r.providers[targets[0]].enabled
    }


def all_providers(env: str | None = None) -> tuple[Provider, ...]:
    """The seed's ``ALL_PROVIDERS``: every enabled provider, in catalog order."""
    return tuple(p for p in default_resolver(env).providers.values() if p.enabled)
