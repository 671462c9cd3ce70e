"""Declarative, Hydra-configured LLM fallbacks: compose, validate, resolve.

``import resolver`` is cheap: Hydra is imported, and the default configuration composed, only
when something first needs it; httpx only when ``chat``/``achat`` (``resolver.http``) is first
imported or looked up (aiohttp when ``achat`` first runs), and the execution layer when a call
first goes through a chain. ``chat`` & co. here call through the process-wide default
resolver unless given ``resolver=``; a :class:`Resolver` itself only answers lookups. A
compiled snapshot (:func:`load_snapshot`, ``RESOLVER_SNAPSHOT``) is served without Hydra at
all.
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__
from .catalog import (
    ERROR_CLASSES,
    Acceptance,
    CostPolicy,
    EdgePolicy,
    ErrorClass,
    Group,
    HealthPolicy,
    Member,
    Policy,
    Pricing,
    Provider,
)
from .default import (
    acall_with_fallback,
    call_with_fallback,
    default_resolver,
    explain,
    get_fallback_chain,
    get_fallback_provider,
    stats,
)
from .errors import (
    Attempt,
    ConfigError,
    FallbackExhausted,
    ModelUnavailable,
    Problem,
    ProviderError,
    ResolverError,
    Skip,
    SnapshotError,
    StreamInterrupted,
    UnsupportedParameter,
)
from .health import HealthState, HealthStore, MemoryHealthStore
from .load import load
from .resolve import Explanation, Resolver, Step
from .snapshot import load_snapshot
from .stats import ModelStats

if TYPE_CHECKING:  # for type checkers; at run time these come from __getattr__ below
    from .execute import Event, Outcome, add_listener, time_left
    from .http import ChatResult, achat, chat
    from .stream import (
        AsyncFallbackStream,
        ChatChunk,
        FallbackStream,
        StreamResult,
        achat_stream,
        astream_with_fallback,
        chat_stream,
        stream_with_fallback,
    )

# Imported on first use: httpx only when chat is, and the execution layer (asyncio,
# logging: a third of the import time) only when a call goes through a chain, so that a
# service answering lookups from a snapshot starts in the time of a JSON read. chat and achat
# are resolver.http's own, not wrappers: in a burst's first turn every call runs up to its wait,
# and a wrapper there cost 1.7 us and two more objects for the collector per call.
_LAZY = {
    "ChatResult": "http",
    "achat": "http",
    "chat": "http",
    "Event": "execute",
    "Outcome": "execute",
    "add_listener": "execute",
    "time_left": "execute",
    "AsyncFallbackStream": "stream",
    "ChatChunk": "stream",
    "FallbackStream": "stream",
    "StreamResult": "stream",
    "achat_stream": "stream",
    "astream_with_fallback": "stream",
    "chat_stream": "stream",
    "stream_with_fallback": "stream",
}

__all__ = [
    "ALL_PROVIDERS",
    "ERROR_CLASSES",
    "MODEL_FALLBACKS",
    "Acceptance",
    "AsyncFallbackStream",
    "Attempt",
    "ChatChunk",
    "ChatResult",
    "ConfigError",
    "CostPolicy",
    "EdgePolicy",
    "ErrorClass",
    "Event",
    "Explanation",
    "FallbackExhausted",
    "FallbackStream",
    "Group",
    "HealthPolicy",
    "HealthState",
    "HealthStore",
    "Member",
    "MemoryHealthStore",
    "ModelStats",
    "ModelUnavailable",
    "Outcome",
    "Policy",
    "Pricing",
    "Problem",
    "Provider",
    "ProviderError",
    "Resolver",
    "ResolverError",
    "Skip",
    "SnapshotError",
    "Step",
    "StreamInterrupted",
    "StreamResult",
    "UnsupportedParameter",
    "acall_with_fallback",
    "achat",
    "achat_stream",
    "add_listener",
    "astream_with_fallback",
    "call_with_fallback",
    "chat",
    "chat_stream",
    "default_resolver",
    "explain",
    "get_fallback_chain",
    "get_fallback_provider",
    "load",
    "load_snapshot",
    "stats",
    "stream_with_fallback",
    "time_left",
]


def __getattr__(name: str) -> Any:
    # PEP 562: the seed's module constants, computed from the default resolver on first use.
    from . import default

    if name == "MODEL_FALLBACKS":
        return default.model_fallbacks()
    if name == "ALL_PROVIDERS":
        return default.all_providers()
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        # Kept as a plain attribute from now on: `resolver.achat(...)` is looked up per call.
        globals()[name] = value
        return value
    raise AttributeError(f"module 'resolver' has no attribute {name!r}")
