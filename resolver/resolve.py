"""The resolver: immutable indexes over the validated catalog, and the lookups on them.

Everything static about a source's chain (traversal order, disabled targets, the cost cap) is
settled once when the resolver is built; a lookup only checks what can change between calls,
the backups' key variables, so it costs a dict lookup and an environment read.
"""

from __future__ import annotations

import copy
import logging
import os
from bisect import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from random import random as _random
from types import MappingProxyType
from typing import Literal

from .budgets import Usage, estimate_for
from .catalog import Budget, EdgePolicy, Group, Member, Policy, Provider, Vendor, is_downgrade
from .errors import ModelUnavailable, Problem, did_you_mean
from .health import HealthStore
from .pick import Load, Tiers, rank
from .stats import CallStats, ModelStats, StatsByModel
from .stores import ledger_for, limits_for, store_for
from .validate import Validated, group_view

log = logging.getLogger("resolver")

Status = Literal["chosen", "usable", "skipped"]
# (backup, via, group) in the order a call tries them, and (backup id, why) for those passed
# over; group is the group id the backup was reached as a member of, None for a lone provider.
Plan = tuple[list[tuple[Provider, str, str | None]], list[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class Step:
    """One candidate backup in a chain, as :meth:`Resolver.explain` reports it."""

    provider_id: str
    hop: int
    """1 for a direct backup of the requested model, 2 for a backup's backup, and so on; 0 for
    a member of the requested group."""
    via: str
    """The model this candidate is a backup of."""
    status: Status
    reason: str
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        notes = f" [{'; '.join(self.notes)}]" if self.notes else ""
        if self.hop == 0:  # a member of the requested group
            return f"{self.provider_id} (of group {self.via}): {self.status}: {self.reason}{notes}"
        return (
            f"hop {self.hop}: {self.provider_id} (backup of {self.via}): "
            f"{self.status}: {self.reason}{notes}"
        )


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a model falls back where it does, candidate by candidate; for a group, also which
    member a call would take now and why the others would not be taken (``members``)."""

    model_id: str
    chosen: str | None
    summary: str
    steps: tuple[Step, ...] = ()
    members: tuple[Step, ...] = ()
    """A group's members (hop 0), in the order a call would try them now."""

    def __str__(self) -> str:
        lines = [f"{self.model_id}: {self.summary}"]
        lines += [f"  member {step}" for step in self.members]
        lines += [f"  {step}" for step in self.steps]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Hop:
    provider: Provider
    hop: int
    via: str
    blocked: str | None  # why this candidate can never be used, if it cannot
    group: Group | None = None  # the group this backup was reached as a member of


class Resolver:
    """A validated, immutable fallback configuration. Build one with :func:`resolver.load`."""

    __slots__ = (
        "_budgets",
        "_candidates",
        "_covered",
        "_draws",
        "_dynamic",
        "_edge_policy",
        "_fallbacks",
        "_groups",
        "_hops",
        "_nodes",
        "_origins",
        "_providers",
        "_stats",
        "_tiers",
        "_unknown_seen",
        "env",
        "health",
        "ledger",
        "limits",
        "load",
        "loaded",
        "policy",
        "registry",
        "warnings",
    )

    def __init__(
        self,
        validated: Validated,
        *,
        env: str | None = None,
        origins: Mapping[str, str] | None = None,
        health: HealthStore | None = None,
    ) -> None:
        self.env = env
        # The configuration is immutable; health and call counts are the runtime state beside
        # it. ``health`` can be a store shared with other resolvers or processes.
        self.health: HealthStore = (
            health if health is not None else store_for(validated.policy.health, env)
        )
        self._stats = CallStats()
        self._unknown_seen: set[str] = set()  # ids already logged as unknown
        self.policy: Policy = validated.policy
        self.warnings: tuple[Problem, ...] = tuple(
            p for p in validated.problems if p.severity == "warning"
        )
        self._providers = MappingProxyType(dict(validated.providers))
        self._groups = MappingProxyType(dict(validated.groups))
        self.registry: Mapping[str, Vendor] = MappingProxyType(dict(validated.registry))
        """The vendor registry it was composed with (empty when read from a snapshot)."""
        # Every id a call or an edge may name: a deployment, or a group seen as one node.
        self._nodes: Mapping[str, Provider] = MappingProxyType(
            {
                **validated.providers,
                **{g: group_view(group, validated.providers) for g, group in self._groups.items()},
            }
        )
        self._tiers = {g: Tiers(group) for g, group in self._groups.items()}
        # The deployments whose calls in flight and latency a strategy reads: the executor
        # keeps that load for them only.
        self.loaded: frozenset[str] = frozenset(
            m.id
            for g in self._groups.values()
            if g.strategy in ("least-busy", "latency")
            for m in g.members
        )
        self._draws = {
            g: draw for g, tiers in self._tiers.items() if (draw := tiers.draw(self._providers))
        }
        # Calls in flight and latencies, which least-busy and latency groups read; requests and
        # tokens a minute, which rpm and tpm limit.
        self.load = Load()
        self.limits = limits_for(self.health)
        # Spend and reservations of the budgets, kept beside health (a shared store's are
        # shared); each deployment's covering budgets are found once, here.
        self.ledger = ledger_for(self.health, validated.policy.budget)
        self._budgets = MappingProxyType(dict(validated.budgets))
        self._covered: dict[str, tuple[Budget, ...]] = {
            pid: covering
            for pid, p in validated.providers.items()
            if (covering := tuple(b for b in self._budgets.values() if b.covers(p, self._groups)))
        }
        self._fallbacks = MappingProxyType(dict(validated.fallbacks))
        self._edge_policy = MappingProxyType(dict(validated.edge_policy))
        self._origins = MappingProxyType(dict(origins or {}))
        self._candidates: dict[str, tuple[tuple[Provider, str | None], ...]] = {}
        self._hops: dict[str, tuple[_Hop, ...]] = {}
        # Sources whose chain holds a group that does not always prefer the same member: their
        # lookups rank it at call time instead of reading the precomputed order.
        self._dynamic: set[str] = set()
        for source in self._fallbacks:
            if not self._nodes[source].enabled:
                continue
            hops = self._hops[source] = tuple(self._walk(source))
            usable = tuple((h.provider, h.provider.api_key_env) for h in hops if not h.blocked)
            if usable:
                self._candidates[source] = usable
            if any(h.group is not None and _ranks(h.group) for h in hops):
                self._dynamic.add(source)
        # Every enabled model has an entry, empty without backups: a lookup of one is then a
        # dict read, and a missing entry means an unknown or disabled id.
        for model_id, node in self._nodes.items():
            if node.enabled:
                self._candidates.setdefault(model_id, ())

    def __repr__(self) -> str:
        enabled = sum(p.enabled for p in self._providers.values())
        edges = sum(len(t) for t in self._fallbacks.values())
        return (
            f"<Resolver env={self.env!r} providers={len(self._providers)} "
            f"enabled={enabled} edges={edges}>"
        )

    @property
    def budgets(self) -> Mapping[str, Budget]:
        """Every budget by id (``budgets:``)."""
        return self._budgets

    def budgets_of(self, provider_id: str) -> tuple[Budget, ...]:
        """The budgets a call to ``provider_id`` counts against."""
        return self._covered.get(provider_id, ())

    def budget_usage(self, extra: Iterable[Budget] = ()) -> dict[str, Usage]:
        """Each budget's spend over its window, what calls in flight hold, and what is left;
        with ``extra`` budgets counted on this resolver's ledger too (a gateway's clients')."""
        budgets = [*self._budgets.values(), *extra]
        return {b.id: self.ledger.usage(b) for b in budgets}

    @property
    def providers(self) -> Mapping[str, Provider]:
        """Every declared provider by id, disabled ones included."""
        return self._providers

    @property
    def nodes(self) -> Mapping[str, Provider]:
        """Every id a call or an edge may name: each provider, and each group seen as one
        (vendor ``group``; enabled while a member is, priced as its dearest member)."""
        return self._nodes

    @property
    def groups(self) -> Mapping[str, Group]:
        """Every declared group by id. A provider in no group is a group of one, not listed."""
        return self._groups

    def members(self, model_id: str) -> tuple[Provider, ...]:
        """The deployments that serve ``model_id``: a group's members in declaration order, or
        the provider itself. Raises KeyError for an unknown id."""
        group = self._groups.get(model_id)
        if group is None:
            return (self._providers[model_id],)
        return tuple(self._providers[m.id] for m in group.members)

    def ranked(self, model_id: str) -> list[tuple[Provider, Member | None]]:
        """The deployments of ``model_id`` in the order a call tries them now, by its group's
        strategy; a provider alone is its own one member (with no :class:`Member`)."""
        tiers = self._tiers.get(model_id)
        if tiers is None:
            return [(self._providers[model_id], None)]
        return [(self._providers[m.id], m) for m in rank(tiers, self.load)]

    def pick(self, model_id: str, *, environ: Mapping[str, str] | None = None) -> Provider | None:
        """The deployment a call to ``model_id`` goes to first now: the group's strategy's pick
        among members that are enabled, in rotation and have their key variable set (the
        provider itself for a provider in no group), or None when none can serve. Raises
        :class:`ModelUnavailable` for an unknown id."""
        draw = self._draws.get(model_id)
        if draw is not None and self.health.all_in_rotation:
            # The common case: one draw, then a check of the one member drawn.
            deployments, cumulative, total = draw
            first = (
                deployments[bisect(cumulative, _random() * total)]
                if cumulative
                else (deployments[0])
            )
            key_env = first.api_key_env
            if key_env is None or (os.environ if environ is None else environ).get(key_env):
                return first
        if model_id not in self._tiers:
            provider = self._providers.get(model_id)
            if provider is None:
                raise ModelUnavailable(model_id, self._unknown(model_id))
            if provider.enabled and (
                self.health.all_in_rotation or self.health.in_rotation(model_id)
            ):
                return provider
            return None
        env = os.environ if environ is None else environ
        for provider, _ in self.ranked(model_id):
            key_env = provider.api_key_env
            if (
                provider.enabled
                and (key_env is None or env.get(key_env))
                and self.health.in_rotation(provider.id)
            ):
                return provider
        return None

    def group_of(self, model_id: str, provider_id: str) -> str | None:
        """The group a call to ``model_id`` reaches ``provider_id`` through: ``model_id`` itself
        for one of its own members, a backup group for one of that group's, else None."""
        group = self._groups.get(model_id)
        if group is not None and any(m.id == provider_id for m in group.members):
            return model_id
        for hop in self._hops.get(model_id, ()):
            if hop.provider.id == provider_id:
                return hop.group.id if hop.group is not None else None
        return None

    def _unknown(self, model_id: str) -> str:
        hint = did_you_mean(model_id, self._nodes)
        return "unknown model id" + (f"; {hint}" if hint else "")

    @property
    def fallbacks(self) -> Mapping[str, tuple[str, ...]]:
        """The configured edges: source id -> ordered backup ids."""
        return self._fallbacks

    @property
    def edge_policy(self) -> Mapping[str, EdgePolicy]:
        return self._edge_policy

    @property
    def origins(self) -> Mapping[str, str]:
        """Source id -> the config file or override that declared its backups."""
        return self._origins

    def get_fallback_provider(
        self, model_id: str, *, environ: Mapping[str, str] | None = None, strict: bool = False
    ) -> Provider | None:
        """The first usable backup of ``model_id``, or None.

        None for an unknown or disabled model, a model without backups, and when every backup
        is disabled, over the cost cap (with ``cost.action: skip``), out of rotation, or missing
        its key variable in ``environ`` (``os.environ`` at call time by default). An unknown
        id is logged once at WARNING with the closest known id; ``strict=True`` raises
        :class:`ModelUnavailable` for an unknown or disabled model instead.
        """
        candidates = self._candidates.get(model_id)
        if not candidates:
            # An unknown id is reported once: after that, two set lookups and no call.
            if candidates is None and (
                strict or (model_id not in self._nodes and model_id not in self._unknown_seen)
            ):
                self._no_candidates(model_id, strict)
            return None
        if self._dynamic and model_id in self._dynamic:  # a group in the chain ranks its members
            chain = self.get_fallback_chain(model_id, environ=environ)
            return chain[0] if chain else None
        env = os.environ if environ is None else environ
        if self.health.all_in_rotation:  # the common case pays one attribute read for health
            for provider, key_env in candidates:
                if key_env is None or env.get(key_env):
                    return provider
            return None
        in_rotation = self.health.in_rotation
        for provider, key_env in candidates:
            if (key_env is None or env.get(key_env)) and in_rotation(provider.id):
                return provider
        return None

    def _no_candidates(self, model_id: str, strict: bool) -> None:
        """Off the hot path: say so when ``model_id`` is unknown (or, strict, disabled)."""
        source = self._nodes.get(model_id)
        if source is None:
            reason = self._unknown(model_id)
            if strict:
                raise ModelUnavailable(model_id, reason)
            if model_id not in self._unknown_seen:
                self._unknown_seen.add(model_id)
                log.warning("get_fallback_provider(%r): %s; returning None", model_id, reason)
        elif strict and not source.enabled:
            reason = f"disabled ({source.disabled_reason or 'no reason given'})"
            raise ModelUnavailable(model_id, reason)

    def get_fallback_chain(
        self, model_id: str, *, environ: Mapping[str, str] | None = None
    ) -> tuple[Provider, ...]:
        """Every usable backup of ``model_id`` in the order they would be tried."""
        env = os.environ if environ is None else environ
        if model_id in self._dynamic:
            return tuple(provider for provider, _, _ in self._plan(model_id, env)[0])
        health = self.health
        return tuple(
            provider
            for provider, key_env in self._candidates.get(model_id, ())
            if (key_env is None or env.get(key_env))
            and (health.all_in_rotation or health.in_rotation(provider.id))
        )

    def static_chain(self, model_id: str) -> tuple[Provider, ...]:
        """Every backup a call through ``model_id`` could ever use, in order, before key
        variables and health are checked: what a config written for another runtime carries."""
        return tuple(provider for provider, _ in self._candidates.get(model_id, ()))

    def static_nodes(self, model_id: str) -> tuple[str, ...]:
        """:meth:`static_chain` as the ids its edges name: a backup group's members appear as
        the group, once."""
        hops = self._hops.get(model_id, ())
        return tuple(
            dict.fromkeys(h.group.id if h.group else h.provider.id for h in hops if not h.blocked)
        )

    def explain(self, model_id: str, *, environ: Mapping[str, str] | None = None) -> Explanation:
        """Why ``model_id`` falls back where it does: every candidate, used or skipped."""
        source = self._nodes.get(model_id)
        if source is None:
            hint = did_you_mean(model_id, self._nodes)
            return Explanation(
                model_id, None, f"unknown model {model_id!r}" + (f"; {hint}" if hint else "")
            )
        env = os.environ if environ is None else environ
        members = self._explain_members(model_id, env)
        if not source.enabled:
            return Explanation(
                model_id,
                None,
                f"disabled ({source.disabled_reason or 'no reason given'}), so its backups are "
                "never used",
                members=members,
            )
        if not self._fallbacks.get(model_id):
            return Explanation(model_id, None, "no fallbacks configured", members=members)
        chosen: str | None = None
        steps = []
        for hop in self._hops[model_id]:
            target = hop.provider
            reason = self._why_not(hop, env) or self._over_budget(target)
            if reason is not None:
                status: Status = "skipped"
            elif chosen is None:
                status, reason, chosen = "chosen", "first usable backup", target.id
            else:
                status, reason = "usable", "next in line if the chosen backup fails"
            steps.append(
                Step(target.id, hop.hop, hop.via, status, reason, self._notes(source, hop))
            )
        summary = f"falls back to {chosen!r}" if chosen else "no usable backup"
        return Explanation(model_id, chosen, summary, tuple(steps), members)

    def _over_budget(self, provider: Provider) -> str | None:
        """Why a budget covering ``provider`` would pass it over now (no room for a call of the
        policy's reference size), or None; only explain asks: a call reserves for itself."""
        covering = self._covered.get(provider.id)
        if not covering:
            return None
        budget = self.ledger.blocked(covering, estimate_for(provider, self.policy, None))
        return None if budget is None else self.ledger.why(budget)

    def _explain_members(self, model_id: str, env: Mapping[str, str]) -> tuple[Step, ...]:
        """A group's members in the order a call would try them now: the first usable one is
        what a call takes, each other one with why it would not be taken first."""
        group = self._groups.get(model_id)
        if group is None:
            return ()
        tiers = self._tiers[model_id]
        steps = []
        taken: str | None = None
        for provider, member in self.ranked(model_id):
            assert member is not None
            reason = self._member_unusable(provider, env) or self._over_budget(provider)
            notes = [_member_note(group, member, tiers, self.load)]
            if reason is not None:
                status: Status = "skipped"
            elif taken is None:
                taken = provider.id
                status, reason = "chosen", f"{group.strategy}: a call takes it now"
            else:
                status, reason = "usable", f"{group.strategy}: after {taken}"
            steps.append(Step(provider.id, 0, model_id, status, reason, tuple(notes)))
        return tuple(steps)

    def _member_unusable(
        self, provider: Provider, env: Mapping[str, str], *, health: bool = True
    ) -> str | None:
        """Why a group's member cannot serve now (None: it can); ``health=False`` leaves
        health to the caller, which asks the store when it gets to the member."""
        if not provider.enabled:
            return f"disabled ({provider.disabled_reason or 'no reason given'})"
        key_env = provider.api_key_env
        if key_env is not None and not env.get(key_env):
            return f"key variable {key_env} is not set"
        if health and not self.health.in_rotation(provider.id):
            return self.health.state(provider.id).describe()
        return None

    def _plan(
        self,
        model_id: str,
        environ: Mapping[str, str],
        out_of_rotation: Mapping[str, str] | None = None,
    ) -> Plan:
        """The chain a call through ``model_id`` would take: (backup, via) pairs in order, and
        (backup id, reason) for each candidate passed over, from the same walk as
        :meth:`get_fallback_chain`. ``out_of_rotation`` (id -> why), when given, is health
        already read, and the store is not asked again."""
        usable: list[tuple[Provider, str, str | None]] = []
        skipped: list[tuple[str, str]] = []
        hops = self._hops.get(model_id, ())
        for hop in hops:
            reason = self._why_not(hop, environ, out_of_rotation)
            if reason is None:
                usable.append((hop.provider, hop.via, hop.group.id if hop.group else None))
            else:
                skipped.append((hop.provider.id, reason))
        if model_id in self._dynamic:
            usable = self._ranked_segments(usable)
        return usable, skipped

    def _plan_of(self, model_id: str, backups: Sequence[str], environ: Mapping[str, str]) -> Plan:
        """The plan of a call through ``model_id`` whose backups are ``backups`` (a caller's
        own chain) rather than the config's: each backup's deployments in order, those that
        cannot serve (disabled, key unset) passed over; health is asked when a call gets to
        each."""
        usable: list[tuple[Provider, str, str | None]] = []
        skipped: list[tuple[str, str]] = []
        for backup in backups:
            group = backup if backup in self._groups else None
            for provider in self.members(backup):
                reason = self._member_unusable(provider, environ, health=False)
                if reason is None:
                    usable.append((provider, model_id, group))
                else:
                    skipped.append((provider.id, reason))
        return usable, skipped

    def _ranked_segments(
        self, usable: list[tuple[Provider, str, str | None]]
    ) -> list[tuple[Provider, str, str | None]]:
        """``usable`` with each group's members in the order its strategy ranks them now (a
        group's members are next to each other in a chain)."""
        out: list[tuple[Provider, str, str | None]] = []
        i = 0
        while i < len(usable):
            group_id = usable[i][2]
            j = i + 1
            while j < len(usable) and group_id is not None and usable[j][2] == group_id:
                j += 1
            segment = usable[i:j]
            if group_id is not None and j - i > 1:
                position = {m.id: n for n, m in enumerate(rank(self._tiers[group_id], self.load))}
                segment.sort(key=lambda entry: position[entry[0].id])
            out += segment
            i = j
        return out

    async def _aplan(self, model_id: str, environ: Mapping[str, str]) -> Plan:
        """:meth:`_plan` reading health through the store's async methods, so that a shared
        store's round trips do not block the event loop."""
        out: dict[str, str] = {}
        if self.health.all_in_rotation:  # nothing to read
            return self._plan(model_id, environ, out)
        for hop in self._hops.get(model_id, ()):
            if hop.blocked is None and not await self.health.ain_rotation(hop.provider.id):
                out[hop.provider.id] = (await self.health.astate(hop.provider.id)).describe()
        return self._plan(model_id, environ, out)

    def _why_not(
        self,
        hop: _Hop,
        environ: Mapping[str, str],
        out_of_rotation: Mapping[str, str] | None = None,
    ) -> str | None:
        """Why ``hop`` cannot be used now, or None when it can."""
        if hop.blocked:
            return hop.blocked
        provider = hop.provider
        key_env = provider.api_key_env
        if key_env is not None and not environ.get(key_env):
            return f"key variable {key_env} is not set"
        if out_of_rotation is not None:
            return out_of_rotation.get(provider.id)
        if not self.health.in_rotation(provider.id):
            return self.health.state(provider.id).describe()
        return None

    def with_health(self, health: HealthStore | None = None) -> Resolver:
        """The same configuration with its own runtime state: ``health`` (default: a fresh
        store as the policy asks; a Redis store still sees the shared state) and zeroed call
        counts. Nothing is composed again."""
        twin = copy.copy(self)
        twin.health = health if health is not None else store_for(self.policy.health, self.env)
        twin._stats = CallStats()
        twin.load = Load()
        twin.limits = limits_for(twin.health)
        twin.ledger = ledger_for(twin.health, self.policy.budget)
        return twin

    def counting_on(self, previous: Resolver) -> Resolver:
        """This configuration with ``previous``'s call counts, which both go on adding to (so
        calls still in flight on ``previous`` are counted too): a reload keeps the counts.
        :meth:`stats` shows those of the models this configuration declares."""
        twin = copy.copy(self)
        twin._stats = previous._stats
        # What the vendors already saw this minute, and the calls still in flight, go on.
        twin.limits = previous.limits
        twin.load = previous.load
        twin.ledger = previous.ledger  # what was spent stays spent
        return twin

    def stats(self) -> dict[str, ModelStats]:
        """Per requested model: calls made through this resolver and how each ended. A
        declared model not called yet reads as zero calls."""
        # Counts carried over from a previous configuration may name a model since removed.
        counted = {m: s for m, s in self._stats.snapshot().items() if m in self._nodes}
        return StatsByModel(counted, self._nodes)

    def _walk(self, source_id: str) -> Iterator[_Hop]:
        """Candidates breadth-first: all direct backups in order, then theirs, up to max_depth.

        A provider appears once however many edges reach it; a disabled one is reported but
        not expanded, since its own edges are inert.
        """
        source = self._nodes[source_id]
        seen = {source_id}
        # A deployment is tried once however many edges or groups reach it, and a group's
        # own members are not its backups.
        tried = {p.id for p in self.members(source_id)}
        frontier = [source_id]
        for depth in range(1, self.policy.max_depth + 1):
            expand = []
            for via in frontier:
                for target_id in self._fallbacks.get(via, ()):
                    if target_id in seen:
                        continue
                    seen.add(target_id)
                    target = self._nodes[target_id]
                    group = self._groups.get(target_id)
                    deployments = (
                        (target,)
                        if group is None
                        else tuple(self._providers[m.id] for m in self._tiers[target_id].static)
                    )
                    for provider in deployments:
                        if provider.id in tried:
                            continue
                        tried.add(provider.id)
                        yield _Hop(provider, depth, via, self._blocked(source, provider), group)
                    if target.enabled:
                        expand.append(target_id)
            if not expand:  # nothing further: a max_depth of any size ends here
                return
            frontier = expand

    def _blocked(self, source: Provider, target: Provider) -> str | None:
        if not target.enabled:
            return f"disabled ({target.disabled_reason or 'no reason given'})"
        cost = self.policy.cost
        if cost.action == "skip":
            cap = self._cost_cap(source.id)
            ratio = cost.ratio(source, target)
            if ratio > cap:
                return f"costs {ratio:.2f}x {source.id}, over the cap of {cap:g}x"
        return None

    def _cost_cap(self, source_id: str) -> float:
        edge = self._edge_policy.get(source_id)
        if edge is not None and edge.max_cost_ratio is not None:
            return edge.max_cost_ratio
        return self.policy.cost.max_ratio

    def _notes(self, source: Provider, hop: _Hop) -> tuple[str, ...]:
        target = hop.provider
        ratio = self.policy.cost.ratio(source, target)
        cap = self._cost_cap(source.id)
        # With action "skip" the cap is already the skip reason; with "warn" it is only a note.
        over = f", over the cap of {cap:g}x" if ratio > cap and hop.blocked is None else ""
        notes = [f"cost {ratio:.2f}x{over}"]
        if is_downgrade(source, target):
            notes.append("downgrade: loses reasoning")
        if hop.group is not None:
            notes.append(f"member of group {hop.group.id} ({hop.group.strategy})")
        edge = self._edge_policy.get(hop.via)
        on = edge.trigger(hop.group.id if hop.group else target.id) if edge is not None else None
        if on is not None:
            notes.append(f"taken only on {', '.join(on)}")
        if edge is not None and edge.note:
            notes.append(edge.note)
        return tuple(notes)


def _ranks(group: Group) -> bool:
    """Whether ``group``'s strategy can put another member first from one call to the next."""
    return group.strategy != "ordered" and len(group.members) > 1


def _member_note(group: Group, member: Member, tiers: Tiers, load: Load) -> str:
    tier = "" if member.order is None else f"order {member.order}; "
    if group.strategy == "weighted":
        return f"{tier}weight {member.weight:g}: {tiers.share(member):.0%} of its tier's calls"
    if group.strategy == "least-busy":
        return f"{tier}{load.in_flight.get(member.id, 0)} call(s) in flight"
    if group.strategy == "latency":
        seconds = load.latency(member.id)
        return tier + ("no latency measured yet" if seconds is None else f"{seconds * 1000:.0f} ms")
    return f"{tier}position {group.members.index(member) + 1}"
