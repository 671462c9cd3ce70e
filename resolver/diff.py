"""What changes between two resolvers (two envs): edges, models, provider settings, policy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from .catalog import Provider
from .resolve import Resolver

Kind = Literal["edge", "model", "provider", "policy", "edge_policy"]
What = Literal["added", "removed", "reordered", "enabled", "disabled", "changed"]
_MARK = {
    "added": "+",
    "enabled": "+",
    "removed": "-",
    "disabled": "-",
    "reordered": "~",
    "changed": "~",
}
# Compared by the `model` kind (enabled/disabled) or not a setting at all.
_NOT_SETTINGS = {"id", "enabled", "disabled_reason"}


@dataclass(frozen=True, slots=True)
class Change:
    kind: Kind
    subject: str
    """The edge (``a -> b``), model id, ``model.field`` or dotted policy key that changed."""
    what: What
    before: Any = None
    after: Any = None

    def __str__(self) -> str:
        text = f"{_MARK[self.what]} {self.kind} {self.subject}: {self.what}"
        if self.what in ("changed", "reordered"):
            return f"{text} {_show(self.before)} -> {_show(self.after)}"
        detail = self.after if self.what in ("added", "disabled") else self.before
        if self.what == "enabled" and detail:
            detail = f"was disabled: {detail}"
        return f"{text} ({detail})" if detail else text


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "null" if value is None else str(value)


def diff(a: Resolver, b: Resolver) -> tuple[Change, ...]:
    """Every difference from ``a`` to ``b``, grouped by kind and sorted within each kind."""
    return (
        *_edges(a.fallbacks, b.fallbacks),
        *_models(a.providers, b.providers),
        *_flat("policy", _flatten(asdict(a.policy)), _flatten(asdict(b.policy))),
        *_flat(
            "edge_policy",
            _flatten({k: asdict(v) for k, v in a.edge_policy.items()}),
            _flatten({k: asdict(v) for k, v in b.edge_policy.items()}),
        ),
    )


def _edges(a: Any, b: Any) -> list[Change]:
    changes: list[Change] = []
    for source in sorted(set(a) | set(b)):
        before, after = tuple(a.get(source, ())), tuple(b.get(source, ()))
        if before == after:
            continue
        for i, target in enumerate(after, 1):
            if target not in before:
                changes.append(Change("edge", f"{source} -> {target}", "added", after=f"#{i}"))
        for i, target in enumerate(before, 1):
            if target not in after:
                changes.append(Change("edge", f"{source} -> {target}", "removed", before=f"#{i}"))
        kept_before = [t for t in before if t in after]
        kept_after = [t for t in after if t in before]
        if kept_before != kept_after:
            changes.append(Change("edge", source, "reordered", before, after))
    return changes


def _models(a: Any, b: Any) -> list[Change]:
    changes: list[Change] = []
    for model_id in sorted(set(a) | set(b)):
        pa: Provider | None = a.get(model_id)
        pb: Provider | None = b.get(model_id)
        if pa is None or pb is None:
            present = pb or pa
            assert present is not None
            what: What = "added" if pa is None else "removed"
            vendor = f"vendor {present.vendor}"
            changes.append(Change("model", model_id, what, pa and vendor, pb and vendor))
            continue
        if pa.enabled != pb.enabled:
            what = "enabled" if pb.enabled else "disabled"
            changes.append(Change("model", model_id, what, pa.disabled_reason, pb.disabled_reason))
        for f in fields(Provider):
            if f.name in _NOT_SETTINGS:
                continue
            va, vb = getattr(pa, f.name), getattr(pb, f.name)
            if va != vb:
                if hasattr(va, "__dataclass_fields__"):
                    va, vb = asdict(va), asdict(vb)
                changes.append(Change("provider", f"{model_id}.{f.name}", "changed", va, vb))
    return changes


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _flat(kind: Kind, a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    return [
        Change(kind, key, "changed", a.get(key), b.get(key))
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]
