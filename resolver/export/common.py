"""What every export shares: the chains a call can take, and what no runtime but ours knows."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .._version import __version__
from ..catalog import ErrorClass, Provider
from ..resolve import Resolver
from ..snapshot import to_json


@dataclass(frozen=True, slots=True)
class Export:
    """An exported configuration: its ``text``, and one sentence per thing the target cannot
    express (written at the top of ``text`` too)."""

    text: str
    unsupported: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Source:
    """Where an export comes from: the env, the package version and the snapshot's hash, so a
    generated file names the exact configuration it was made from."""

    env: str | None
    version: str
    content_hash: str

    def __str__(self) -> str:
        return f"fallback-resolver {self.version}, env {self.env}, {self.content_hash}"


def source_of(r: Resolver) -> Source:
    """The same content hash ``fallback-resolver compile`` writes for ``r``."""
    return Source(r.env, __version__, json.loads(to_json(r))["integrity"])


def enabled(r: Resolver) -> list[Provider]:
    return sorted((p for p in r.providers.values() if p.enabled), key=lambda p: p.id)


class _EveryKeySet(Mapping[str, str]):
    """An environment in which every key variable is set: explain then reports only the
    reasons a backup can never be used, not the ones of this machine."""

    def __getitem__(self, key: str) -> str:
        return "set"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def chains(r: Resolver) -> dict[str, tuple[Provider, ...]]:
    """Per enabled source with backups: the backups a call can reach, in order. A runtime that
    does not re-check our bounds gets only what ``max_attempts`` lets the executor try."""
    room = max(r.policy.max_attempts - 1, 0)
    out = {}
    for p in enabled(r):
        chain = r.static_chain(p.id)[:room]
        if chain:
            out[p.id] = chain
    return out


def fallback_on(r: Resolver, source_id: str) -> tuple[ErrorClass, ...]:
    """The error classes that move a call on from ``source_id`` (its edge policy, or the
    global policy)."""
    edge = r.edge_policy.get(source_id)
    if edge is not None and edge.fallback_on is not None:
        return edge.fallback_on
    return r.policy.fallback_on


def left_out(r: Resolver) -> list[str]:
    """Every configured edge the export does not carry, and why; and the configuration's
    validation warnings, which no other runtime reports."""
    notes = []
    room = max(r.policy.max_attempts - 1, 0)
    for source_id, targets in sorted(r.fallbacks.items()):
        source = r.providers[source_id]
        if not source.enabled and targets:
            notes.append(
                f"edges out of disabled {source_id} ({', '.join(targets)}) are inert and "
                "not written"
            )
            continue
        chain = [p.id for p in r.static_chain(source_id)]
        for step in r.explain(source_id, environ=_EveryKeySet()).steps:
            if step.provider_id not in chain:
                notes.append(f"{source_id} -> {step.provider_id} not written: {step.reason}")
        for target_id in chain[room:]:
            notes.append(
                f"{source_id} -> {target_id} not written: beyond max_attempts="
                f"{r.policy.max_attempts}, the executor never tries it"
            )
    disabled = sorted(p.id for p in r.providers.values() if not p.enabled)
    if disabled:
        notes.append(f"disabled models not written: {', '.join(disabled)}")
    notes += [f"validation warning: {p.code}: {p.message}" for p in r.warnings]
    # Each note becomes one comment line in a generated file.
    return [" ".join(note.split()) for note in notes]
