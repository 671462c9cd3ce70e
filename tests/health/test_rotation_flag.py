"""The memory store's ``all_in_rotation`` is a real bool at every step (it is exported, e.g.
to JSON, where None would read as null): False once a provider is taken out, True again once
every provider taken out is back."""

from __future__ import annotations

from resolver import HealthPolicy, MemoryHealthStore


def test_all_in_rotation_is_false_then_true_never_none() -> None:
    """all_in_rotation is True, then exactly False after a provider leaves rotation, then
    exactly True after that provider is reset."""
    store = MemoryHealthStore(HealthPolicy(failure_threshold=1, cooldown_s=10))
    assert store.all_in_rotation is True
    store.record_failure("a", "server")
    assert store.all_in_rotation is False
    store.reset("a")
    assert store.all_in_rotation is True
    store.record_failure("a", "server")
    store.reset()
    assert store.all_in_rotation is True
