"""Which health store a policy gets: none, this process's memory, or a shared Redis.

The factory lives apart from the stores it picks, so that ``health`` (the protocol and the
in-memory store) never imports ``redis_health``, and ``redis_health`` imports ``health`` alone.
"""

from __future__ import annotations

from .admission import Limits
from .budgets import Ledger
from .catalog import BudgetPolicy, HealthPolicy
from .errors import ConfigError, Problem, install_hint
from .health import AsyncTwins, HealthState, HealthStore, MemoryHealthStore, Permit

__all__ = ["NullHealthStore", "ledger_for", "limits_for", "store_for"]


class NullHealthStore(AsyncTwins):
    """Health tracking switched off (``policy.health.enabled: false``): always in rotation."""

    all_in_rotation = True

    def __init__(self, policy: HealthPolicy | None = None) -> None:
        self.policy = policy or HealthPolicy(enabled=False)

    def state(self, provider_id: str) -> HealthState:
        return HealthState(provider_id)

    def in_rotation(self, provider_id: str) -> bool:
        return True

    def acquire(self, provider_id: str) -> Permit:
        return "ok"

    def record_success(self, provider_id: str) -> None:
        pass

    def record_failure(self, provider_id: str, error_class: str, detail: str = "") -> HealthState:
        return HealthState(provider_id)

    def reset(self, provider_id: str | None = None) -> None:
        pass


def store_for(policy: HealthPolicy, env: str | None = None) -> HealthStore:
    """The store the policy asks for; a Redis store's keys are namespaced by ``env`` unless
    ``policy.namespace`` names another namespace."""
    if not policy.enabled:
        return NullHealthStore(policy)
    if policy.store == "redis":
        try:
            from .redis_health import RedisHealthStore  # redis-py is imported only when asked for
        except ImportError:
            raise ConfigError(
                [
                    Problem(
                        "missing-dependency",
                        "store is redis but redis-py is not installed",
                        key="policy.health.store",
                        hint=f"{install_hint('redis')}; or policy.health.store=memory",
                    )
                ],
                env=env,
            ) from None
        return RedisHealthStore(policy, namespace=policy.namespace or env or "default")
    return MemoryHealthStore(policy)


def limits_for(health: HealthStore) -> Limits:
    """Where rpm and tpm are counted: with the shared store's own when health is shared (one
    limit for every worker and host), else in this process."""
    shared = getattr(health, "shared_limits", None)
    return shared() if callable(shared) else Limits()


def ledger_for(health: HealthStore, policy: BudgetPolicy) -> Ledger:
    """Where budgets are counted: on the shared store when health is shared (one budget for
    every worker and host), else in this process."""
    if getattr(health, "shares_budgets", False):
        from .redis_budgets import SharedLedger

        return SharedLedger(health, policy)  # type: ignore[arg-type]
    return Ledger()
