"""A caller's scope: which deployments a call made for it may reach, the budgets it counts
against, and the chains of its own. The gateway sets it for each request from the client key's
entry (:mod:`resolver.serve.clients`); a fallback never leaves it, whatever error class an edge
is taken on.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field

from .catalog import Budget


@dataclass(frozen=True, slots=True)
class CallerScope:
    name: str
    """The caller's name (a client's, as its entry names it): in skips, logs and budgets."""
    providers: frozenset[str] | None = None
    """The deployments its calls may be sent to (a group's members included); None: any."""
    budgets: tuple[Budget, ...] = ()
    """Its own budgets: every call made for it counts against them."""
    chains: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Its own backups by requested model, used instead of the config's."""

    def allows(self, provider_id: str) -> bool:
        return self.providers is None or provider_id in self.providers

    def outside(self, provider_id: str) -> str:
        return f"outside the scope of client {self.name!r}: its key may not call {provider_id}"


caller: contextvars.ContextVar[CallerScope | None] = contextvars.ContextVar(
    "resolver_caller", default=None
)
"""The scope of the calls made in this context (set by the gateway for each request)."""
