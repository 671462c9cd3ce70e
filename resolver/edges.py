"""Validation of the fallback graph: cycles (errors), and edges that will not behave as they
read (warnings), less the warnings a source's edge policy accepts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from .catalog import EdgePolicy, Policy, Provider, is_downgrade
from .fields import Findings, KeyPath


def cycles(fallbacks: Mapping[str, tuple[str, ...]], find: Findings) -> None:
    """Report each cycle once, as the path that closes it (iterative DFS, any graph size)."""
    reported: set[frozenset[str]] = set()
    for cycle in cycles_in(fallbacks):
        if frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            shown = " -> ".join([*cycle, cycle[0]])
            find.add(
                "cycle",
                f"fallback cycle: {shown}",
                ("fallbacks", cycle[-1]),
                hint=f"remove one edge of the cycle, e.g. {cycle[-1]} -> {cycle[0]}",
            )


def cycles_in(graph: Mapping[str, Iterable[str]]) -> Iterator[list[str]]:
    """Each cycle a depth-first walk of ``graph`` closes, as its path (the edge from its last
    node back to its first closes it): iterative, so any depth of graph."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in graph:
        if state.get(start):
            continue
        path: list[str] = [start]
        iters = [iter(graph.get(start, ()))]
        state[start] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                yield path[path.index(nxt) :]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(graph.get(nxt, ())))


def _dead_edges(
    fallbacks: Mapping[str, tuple[str, ...]],
    edge_policy: Mapping[str, EdgePolicy],
    policy: Policy,
    find: Findings,
) -> None:
    """Edges no failure can take, because no error class falls back (``fallback_on: []``):
    the backups look configured and are never used. Named where the empty list is: once for
    the policy's, once per source for an edge policy's own."""
    by_policy = 0
    for source, targets in fallbacks.items():
        own = edge_policy.get(source)
        set_here = own is not None and own.fallback_on is not None
        if not targets or (own.fallback_on if own and set_here else policy.fallback_on):
            continue
        if set_here:
            find.add(
                "dead-edge",
                f"no error class falls back from {source!r} (fallback_on is empty), so its "
                f"{len(targets)} backup(s) are never used",
                ("edge_policy", source, "fallback_on"),
                hint="list the error classes that fall back, or remove the source's edges",
                severity="warning",
            )
        else:
            by_policy += len(targets)
    if by_policy:
        find.add(
            "dead-edge",
            f"no error class falls back (fallback_on is empty), so {by_policy} edge(s) are "
            "never used",
            ("policy", "fallback_on"),
            hint="list the error classes that fall back (the default is every class but "
            "bad_request), or remove the edges",
            severity="warning",
        )


class EdgeWarnings:
    """Warnings about edges, less those the source's edge policy accepts; an acceptance that
    matches no warning is reported in turn, so that none outlives what it accepted."""

    def __init__(self, edge_policy: Mapping[str, EdgePolicy], find: Findings) -> None:
        self.edge_policy = edge_policy
        self.find = find
        self.used: set[tuple[str, int]] = set()

    def add(
        self,
        code: str,
        message: str,
        source: str,
        backup: str | None,
        path: KeyPath,
        hint: str | None = None,
    ) -> None:
        policy = self.edge_policy.get(source)
        for i, accepted in enumerate(policy.accept if policy else ()):
            if accepted.warning == code and accepted.backup in (None, backup):
                self.used.add((source, i))
                return
        self.find.add(code, message, path, hint=hint, severity="warning")

    def report_unused(self, fallbacks: Mapping[str, tuple[str, ...]]) -> None:
        for source, policy in self.edge_policy.items():
            if not fallbacks.get(source):
                continue  # no edges in this composition (another fallbacks option): dormant
            for i, accepted in enumerate(policy.accept):
                if (source, i) not in self.used:
                    on = f" on backup {accepted.backup!r}" if accepted.backup else ""
                    self.find.add(
                        "unused-accept",
                        f"{source!r} accepts {accepted.warning}{on}, but no such warning is raised",
                        ("edge_policy", source, "accept", i),
                        hint="remove the entry: what it accepted has changed",
                        severity="warning",
                    )


def edge_warnings(
    providers: Mapping[str, Provider],
    fallbacks: Mapping[str, tuple[str, ...]],
    edge_policy: Mapping[str, EdgePolicy],
    policy: Policy,
    environ: Mapping[str, str],
    find: Findings,
) -> None:
    warn = EdgeWarnings(edge_policy, find)
    _dead_edges(fallbacks, edge_policy, policy, find)
    for source_id, targets in fallbacks.items():
        source = providers[source_id]
        path: KeyPath = ("fallbacks", source_id)
        if not targets:
            continue
        if not source.enabled:
            warn.add(
                "inert-edge",
                f"{source_id!r} is disabled ({source.disabled_reason or 'no reason given'}), "
                "so its backups are never used",
                source_id,
                None,
                path,
                hint=f"enable it with '++models={{{source_id}: {{enabled: true}}}}', drop the "
                "edge, or accept the warning in edge_policy",
            )
            continue
        cap = (edge_policy.get(source_id) or EdgePolicy()).max_cost_ratio or policy.cost.max_ratio
        for i, target_id in enumerate(targets):
            target = providers[target_id]
            where = (*path, i)
            if i >= policy.max_attempts - 1:
                warn.add(
                    "unreachable",
                    f"backup {target_id!r} of {source_id!r} is never tried: max_attempts="
                    f"{policy.max_attempts} allows {policy.max_attempts - 1} backup(s)",
                    source_id,
                    target_id,
                    where,
                    hint="raise policy.max_attempts or shorten the list",
                )
            if not target.enabled:
                warn.add(
                    "edge-into-disabled",
                    f"backup {target_id!r} of {source_id!r} is disabled "
                    f"({target.disabled_reason or 'no reason given'}) and is skipped",
                    source_id,
                    target_id,
                    where,
                )
                continue
            if target.api_key_env and not environ.get(target.api_key_env):
                # Not acceptable in edge_policy: whether the key is set is the environment's
                # business, not the configuration's.
                find.add(
                    "key-unset",
                    f"backup {target_id!r} of {source_id!r} needs {target.api_key_env}, "
                    "which is not set in this environment",
                    where,
                    hint=f"export {target.api_key_env}=... where the service runs",
                    severity="warning",
                )
            if is_downgrade(source, target):
                warn.add(
                    "downgrade",
                    f"{source_id!r} reasons and its backup {target_id!r} does not",
                    source_id,
                    target_id,
                    where,
                )
            ratio = policy.cost.ratio(source, target)
            if ratio > cap:
                action = "skipped" if policy.cost.action == "skip" else "used anyway"
                warn.add(
                    "cost-over-cap",
                    f"backup {target_id!r} costs {ratio:.2f}x {source_id!r} on the reference "
                    f"call, over the cap of {cap:g}x ({action})",
                    source_id,
                    target_id,
                    where,
                )
    _beyond_depth(providers, fallbacks, policy.max_depth, warn)
    warn.report_unused(fallbacks)


def _beyond_depth(
    providers: Mapping[str, Provider],
    fallbacks: Mapping[str, tuple[str, ...]],
    max_depth: int,
    warn: EdgeWarnings,
) -> None:
    """Warn, once per chain that starts at a model nothing falls back to, of the backups that
    chain holds past ``max_depth`` hops (walked breadth-first, as a call walks it)."""
    targets = {t for ts in fallbacks.values() for t in ts}
    for root, first in fallbacks.items():
        if root in targets or not first or not providers[root].enabled:
            continue
        seen = {root}
        frontier = [root]
        cut: list[tuple[str, int, str]] = []  # (via, index in via's list, backup)
        for depth in range(1, len(providers) + 1):
            reached = []
            for via in frontier:
                for i, target in enumerate(fallbacks.get(via, ())):
                    if target not in seen and providers[target].enabled:
                        seen.add(target)
                        reached.append((via, i, target))
            if not reached:
                break
            if depth > max_depth:
                cut += reached
            frontier = [target for _, _, target in reached]
        if cut:
            via, i, backup = cut[0]
            shown = ", ".join(repr(t) for _, _, t in cut)
            warn.add(
                "beyond-depth",
                f"a call of {root!r} never reaches {shown}: they are more than "
                f"max_depth={max_depth} hops away",
                root,
                backup,
                ("fallbacks", via, i),
                hint="raise policy.max_depth or shorten the chain",
            )
