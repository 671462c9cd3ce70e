"""The process-wide default resolver, built lazily from the environment, one per env.

``RESOLVER_ENV`` names the env and ``RESOLVER_CONFIG_DIRS`` (``os.pathsep``-separated) adds
deployment config trees; both are read when a lookup asks for the default, so a resolver is
built at the first lookup, not at import. ``RESOLVER_SNAPSHOT`` names a compiled snapshot
(``fallback-resolver compile -o FILE``) to serve instead of composing: a snapshot is the whole
compiled configuration, so ``RESOLVER_CONFIG_DIRS`` plays no part then, and an env asked for
that is not the snapshot's is an error rather than a silent answer from another env.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .catalog import Provider
from .errors import SnapshotError
from .load import load
from .resolve import Explanation, Resolver
from .snapshot import load_snapshot
from .stats import ModelStats

if TYPE_CHECKING:
    from .execute import Outcome

T = TypeVar("T")

_cache: dict[tuple[str | None, tuple[str, ...], str], Resolver] = {}
_lock = threading.Lock()
_pinned: list[Resolver] = []  # set by resolver.testing.use_resolver


def default_resolver(env: str | None = None) -> Resolver:
    """The cached resolver for ``env`` (default: ``RESOLVER_ENV``, else the shipped default)."""
    if _pinned:
        return _pinned[-1]
    name = env or os.environ.get("RESOLVER_ENV") or None
    snapshot = os.environ.get("RESOLVER_SNAPSHOT", "")
    dirs = (
        ()
        if snapshot
        else tuple(d for d in os.environ.get("RESOLVER_CONFIG_DIRS", "").split(os.pathsep) if d)
    )
    key = (name, dirs, snapshot)
    found = _cache.get(key)
    if found is None:
        with _lock:
            found = _cache.get(key)
            if found is None:
                found = _cache[key] = _build(name, dirs, snapshot)
    return found


def or_default(resolver: Resolver | None) -> Resolver:
    """``resolver``, else the default: for the calls that take ``resolver=None``."""
    return default_resolver() if resolver is None else resolver


def _build(env: str | None, dirs: tuple[str, ...], snapshot: str) -> Resolver:
    if not snapshot:
        return load(env=env, config_dirs=dirs)
    try:
        found = load_snapshot(snapshot)
    except SnapshotError as e:  # say where the path came from: no caller of ours passed it
        raise SnapshotError(
            f"{e.path} (from RESOLVER_SNAPSHOT)",
            e.reason,
            hint=e.hint or "point RESOLVER_SNAPSHOT at a file `fallback-resolver compile` wrote",
        ) from None
    if env is not None and env != found.env:
        raise SnapshotError(
            snapshot,
            f"was compiled for env {found.env!r}, not {env!r}",
            hint=f"compile one per env (fallback-resolver compile --env {env} -o FILE) "
            "or unset RESOLVER_SNAPSHOT",
        )
    return found


def get_fallback_provider(
    model_id: str,
    *,
    env: str | None = None,
    environ: Mapping[str, str] | None = None,
    strict: bool = False,
) -> Provider | None:
    """:meth:`Resolver.get_fallback_provider` on the default resolver for ``env``."""
    return default_resolver(env).get_fallback_provider(model_id, environ=environ, strict=strict)


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
        if targets and r.nodes[source].enabled and r.nodes[targets[0]].enabled
    }


def all_providers(env: str | None = None) -> tuple[Provider, ...]:
    """The seed's ``ALL_PROVIDERS``: every enabled provider, in catalog order."""
    return tuple(p for p in default_resolver(env).providers.values() if p.enabled)


# Calls through the chain on the default resolver (or the one passed). The execution layer is
# imported on first call, so that lookups never pay for it.


def call_with_fallback(
    model_id: str, fn: Callable[[Provider], T], *, resolver: Resolver | None = None, **kwargs: Any
) -> Outcome[T]:
    """:func:`resolver.execute.call_with_fallback` on ``resolver`` (default: the process-wide
    default resolver); the other keywords are that function's."""
    from .execute import call_with_fallback

    return call_with_fallback(model_id, fn, resolver=or_default(resolver), **kwargs)


async def acall_with_fallback(
    model_id: str,
    fn: Callable[[Provider], Awaitable[T]],
    *,
    resolver: Resolver | None = None,
    **kwargs: Any,
) -> Outcome[T]:
    """:func:`resolver.execute.acall_with_fallback` on ``resolver`` (default: the process-wide
    default resolver)."""
    from .execute import acall_with_fallback

    return await acall_with_fallback(model_id, fn, resolver=or_default(resolver), **kwargs)
