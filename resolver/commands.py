"""What each command-line subcommand does, on a loaded resolver; ``cli`` parses and dispatches.

Every command composes through :func:`resolver.load.load_composed` and answers from the
:class:`Resolver` and its :class:`Explanation` rather than re-deriving chains. Output is sorted
so that two runs on the same configuration print the same text (CI diffs it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import math
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .budgets import Usage
from .catalog import Acceptance, mask_keylike
from .errors import ConfigError, Problem, ResolverError, did_you_mean, install_hint, printable
from .load import load, load_composed, load_registry
from .resolve import Explanation, Resolver, Step

if TYPE_CHECKING:
    from .compose import Composed
    from .export.from_litellm import Imported

PROG = "fallback-resolver"


class UsageError(ResolverError):
    """The command line itself is wrong (exit 2)."""


_COLOURS = {"green": "32", "yellow": "33", "red": "31", "bold": "1", "dim": "2"}
# The codes Out.paint writes, the only ones Out.line lets through.
_SGR = re.compile("\033\\[(?:" + "|".join([*_COLOURS.values(), "0"]) + ")m")
_STATUS_COLOUR = {"chosen": "green", "usable": "green", "skipped": "yellow"}


@dataclass
class Out:
    """stdout, coloured only for a terminal and never when NO_COLOR is set (no-color.org)."""

    stream: IO[str] = field(default_factory=lambda: sys.stdout)
    colour: bool | None = None

    def __post_init__(self) -> None:
        if self.colour is None:
            self.colour = (
                self.stream.isatty()
                and not os.environ.get("NO_COLOR")
                and os.environ.get("TERM") != "dumb"
            )

    def paint(self, text: str, colour: str) -> str:
        return f"\033[{_COLOURS[colour]}m{text}\033[0m" if self.colour else text

    def line(self, text: str = "") -> None:
        """Print ``text`` as a terminal shows it, never as it obeys it: every control or
        invisible character from a config, a variable or an argument is written as its
        escape. Only this class's own colours stay codes."""
        if not self.colour:
            print(_shown(text), file=self.stream)
            return
        codes = [*_SGR.findall(text), ""]
        shown = (_shown(part) + code for part, code in zip(_SGR.split(text), codes, strict=True))
        print("".join(shown), file=self.stream)

    def json(self, data: Any) -> None:
        print(json.dumps(data, indent=2, sort_keys=True, default=str), file=self.stream)


def _shown(text: str) -> str:
    # Line breaks are the output's own (a block of YAML or JSON); within a line, escapes.
    return "\n".join(map(printable, text.split("\n")))


@dataclass(frozen=True)
class Context:
    """What every subcommand shares: how to compose, and how to answer."""

    env: str | None
    overrides: tuple[str, ...]
    # "override '<line>'" -> the flag that produced it; "key <key>" -> the key and its source
    labels: Mapping[str, str]
    config_dirs: tuple[str, ...]
    config_path: str | None
    as_json: bool
    out: Out

    def load(self, env: str | None = None) -> tuple[Resolver, Composed]:
        """Compose ``env`` (default: the --env of this run) with this run's flags."""
        return load_composed(
            env or self.env,
            self.overrides,
            self.config_dirs,
            self.config_path,
            environ=os.environ,
        )

    def where(self, label: str | None) -> str | None:
        return self.labels.get(label, label) if label else label

    def key(self, key: str | None) -> str | None:
        return self.labels.get(f"key {key}", key) if key else key

    def problem_text(self, p: Problem, *, with_file: bool = True) -> str:
        file = self.where(p.file) if with_file else None
        where = [part for part in (file, self.key(p.key)) if part]
        text = f"{p.severity} [{p.code}] {': '.join(where) or 'configuration'}: {p.message}"
        return f"{text} (hint: {p.hint})" if p.hint else text

    def problem_json(self, p: Problem) -> dict[str, Any]:
        return asdict(p) | {"file": self.where(p.file), "key": self.key(p.key)}

    def config_error(self, e: ConfigError) -> str:
        """One message for a configuration that does not load: its errors, not every warning."""
        where = f" (env {e.env!r})" if e.env else ""
        lines = [f"invalid configuration{where}:"]
        lines += [f"  {self.problem_text(p)}" for p in e.errors]
        warnings = len(e.problems) - len(e.errors)
        if warnings:
            lines.append(f"  ({warnings} warning(s) too; `fallback-resolver validate` lists all)")
        return "\n".join(lines)


def known_model(r: Resolver, model_id: str) -> None:
    if model_id not in r.nodes:
        hint = did_you_mean(model_id, r.nodes)
        raise UsageError(f"unknown model {model_id!r}" + (f"; {hint}" if hint else ""))


def _step_why(step: Step) -> str:
    via = [f"via {step.via}"] if step.hop > 1 else []
    return "; ".join([step.reason, *step.notes, *via])


@dataclass(frozen=True, slots=True)
class Assumptions:
    """What-if flags of explain and table: models down, key variables unset, budgets spent."""

    down: tuple[str, ...] = ()
    unset: tuple[str, ...] = ()
    spent: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.down or self.unset or self.spent)

    def apply(self, r: Resolver) -> tuple[Resolver, Mapping[str, str]]:
        """``r`` and the environment as assumed (no call made, no state changed)."""
        if not self:
            return r, os.environ
        from .whatif import assuming

        try:
            return assuming(
                r, down=self.down, unset=self.unset, spent=self.spent, environ=os.environ
            )
        except ValueError as e:
            raise UsageError(str(e)) from None

    def json(self) -> dict[str, list[str]]:
        return {"down": list(self.down), "unset": list(self.unset), "spent": list(self.spent)}

    def line(self) -> str:
        parts = [
            f"{what} {', '.join(names)}"
            for what, names in (("down", self.down), ("unset", self.unset), ("spent", self.spent))
            if names
        ]
        return "assuming " + "; ".join(parts) + " (what-if: no call made, nothing changed)"


def cmd_table(ctx: Context, *, assume: Assumptions = Assumptions(), every: bool = False) -> int:
    """The chains of the enabled models and groups. Its answer first: rows only for those with
    something to say beyond "no fallbacks configured" (backups, a group's members), then one
    line counting the rest; ``every`` (--all) lists them too. --json always has every model."""
    r, environ = assume.apply(ctx.load()[0])
    enabled = sorted(p.id for p in r.providers.values() if p.enabled)
    groups = sorted(g for g in r.groups if r.nodes[g].enabled)
    explained = [r.explain(m, environ=environ) for m in sorted([*enabled, *groups])]
    if ctx.as_json:
        ctx.out.json(
            {
                "env": r.env,
                "models": [_explanation_json(ctx, r, e) for e in explained],
                "warnings": [ctx.problem_json(p) for p in r.warnings],
                "budgets": [_usage_json(u) for u in r.budget_usage().values()],
            }
            | ({"assumed": assume.json()} if assume else {})
        )
        return 0
    if assume:
        ctx.out.line(assume.line())
    shown = explained if every else [e for e in explained if _has_news(r, e)]
    rows = [("MODEL", "HOP", "BACKUP", "STATUS", "WHY")]
    for e in shown:
        for step in e.members:  # a group: which member a call takes now, and why not the others
            rows.append((e.model_id, "member", step.provider_id, step.status, _step_why(step)))
        if not e.steps:
            rows.append((e.model_id, "-", "-", "-", e.summary))
        for step in e.steps:
            rows.append((e.model_id, str(step.hop), step.provider_id, step.status, _step_why(step)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    with_edges = sum(1 for e in explained if e.steps)
    in_groups = f", {len(groups)} group(s)" if groups else ""
    ctx.out.line(
        f"env {r.env}: {len(enabled)} enabled models{in_groups}, {with_edges} with backups"
    )
    for n, row in enumerate(rows if len(rows) > 1 else []):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        if n == 0:
            cells = [ctx.out.paint(c, "bold") for c in cells]
        elif row[3] in _STATUS_COLOUR:
            cells[3] = ctx.out.paint(cells[3], _STATUS_COLOUR[row[3]])
        ctx.out.line("  ".join([*cells, row[4]]).rstrip())
    hidden = len(explained) - len(shown)
    if hidden:
        more = " more" if shown else ""
        models = "model has" if hidden == 1 else "models have"
        ctx.out.line(f"{hidden}{more} {models} no fallbacks configured (--all lists them)")
    for usage in r.budget_usage().values():
        ctx.out.line(_usage_line(usage))
    disabled = len(r.providers) - len(enabled)
    tail = f"{len(r.warnings)} warning(s)"
    if r.warnings:
        tail += " (`fallback-resolver validate` lists them)"
    ctx.out.line(f"{disabled} disabled model(s) not shown; {tail}")
    return 0


def _has_news(r: Resolver, e: Explanation) -> bool:
    """Whether a table row of an enabled model says more than "no fallbacks configured": a
    backup (usable or skipped), a group's members, or fallbacks that leave no hop."""
    return bool(e.steps or e.members or r.fallbacks.get(e.model_id))


def _explanation_json(ctx: Context, r: Resolver, e: Explanation) -> dict[str, Any]:
    data = asdict(e)
    data["fallback"] = data.pop("chosen")
    for step in data["steps"]:
        step["origin"] = ctx.where(r.origins.get(step["via"]))
    data["accepted"] = [asdict(a) | {"source": source} for source, a in _accepted(r, e)]
    data["budgets"] = [_usage_json(u) for u in _budgets_of(r, e)]
    return data


def _budgets_of(r: Resolver, e: Explanation) -> list[Usage]:
    """The usage of every budget covering the requested model or a candidate of its chain."""
    ids = [e.model_id, *(s.provider_id for s in (*e.members, *e.steps))]
    covering = {b.id: b for i in ids if i in r.providers for b in r.budgets_of(i)}
    return [r.ledger.usage(b) for b in covering.values()]


def _usage_json(u: Usage) -> dict[str, Any]:
    return {"id": u.budget.id, "spent": u.spent, "reserved": u.reserved, "left": u.left}


def _usage_line(u: Usage) -> str:
    return (
        f"budget {u.budget.describe()}: {u.spent:.4f} spent, {u.reserved:.4f} held, "
        f"{u.left:.4f} left"
    )


def _accepted(r: Resolver, e: Explanation) -> list[tuple[str, Acceptance]]:
    """The accepted warnings about the edges this explanation walks, source by source."""
    sources = dict.fromkeys([e.model_id, *(step.via for step in e.steps)])
    return [
        (source, accepted)
        for source in sources
        if source in r.edge_policy
        for accepted in r.edge_policy[source].accept
    ]


def cmd_lookup(ctx: Context, model_id: str) -> int:
    r, _ = ctx.load()
    known_model(r, model_id)
    found = r.get_fallback_provider(model_id)
    why = None
    if found is None:
        e = r.explain(model_id)
        skipped = [f"{s.provider_id}: {s.reason}" for s in e.steps]
        why = e.summary + (f" ({'; '.join(skipped)})" if skipped else "")
    if ctx.as_json:
        ctx.out.json(
            {"model": model_id, "env": r.env, "fallback": found and found.id, "reason": why}
        )
    elif found is not None:
        ctx.out.line(found.id)
    if why is not None:
        print(
            f"fallback-resolver: no fallback for {model_id} in env {r.env}: {why}", file=sys.stderr
        )
        return 1
    return 0


def cmd_explain(ctx: Context, model_id: str, *, assume: Assumptions = Assumptions()) -> int:
    r, environ = assume.apply(ctx.load()[0])
    known_model(r, model_id)
    e = r.explain(model_id, environ=environ)
    if ctx.as_json:
        assumed = {"assumed": assume.json()} if assume else {}
        ctx.out.json(_explanation_json(ctx, r, e) | {"env": r.env} | assumed)
        return 0
    if assume:
        ctx.out.line(assume.line())
    ctx.out.line(f"{model_id} (env {r.env}): {e.summary}")
    for step in e.members:  # a group: the member a call takes now, and why not the others
        status = ctx.out.paint(step.status, _STATUS_COLOUR[step.status])
        ctx.out.line(f"  member {step.provider_id}: {status}: {step.reason}")
        if step.notes:
            ctx.out.line(f"      {'; '.join(step.notes)}")
    for step in e.steps:
        status = ctx.out.paint(step.status, _STATUS_COLOUR[step.status])
        via = f" (backup of {step.via})" if step.hop > 1 else ""
        ctx.out.line(f"  hop {step.hop}: {step.provider_id}{via}: {status}: {step.reason}")
        if step.notes:
            ctx.out.line(f"      {'; '.join(step.notes)}")
        ctx.out.line(f"      edge declared in {ctx.where(r.origins.get(step.via)) or '?'}")
    if not e.steps and model_id in r.origins:
        ctx.out.line(f"  its fallbacks are set in {ctx.where(r.origins[model_id])}")
    for source, accepted in _accepted(r, e):
        ctx.out.line(f"  {source}: {accepted}")
    for usage in _budgets_of(r, e):
        ctx.out.line(f"  {_usage_line(usage)}")
    return 0


def cmd_validate(ctx: Context, envs: Sequence[str | None], *, strict: bool) -> int:
    results = []
    for env in envs:
        try:
            r, _ = ctx.load(env)
            name, problems = r.env, list(r.warnings)
        except ConfigError as e:
            name, problems = e.env or env or "(default)", list(e.problems)
        problems.sort(key=lambda p: (p.severity != "error", p.key or "", p.code, p.message))
        errors = sum(p.severity == "error" for p in problems)
        failed = bool(errors or (strict and problems))
        results.append((name, problems, errors, failed))
    if ctx.as_json:
        ctx.out.json(
            {
                "ok": not any(res[3] for res in results),
                "strict": strict,
                "envs": [
                    {
                        "env": name,
                        "ok": not failed,
                        "errors": errors,
                        "warnings": len(problems) - errors,
                        "problems": [ctx.problem_json(p) for p in problems],
                    }
                    for name, problems, errors, failed in results
                ],
            }
        )
    else:
        for name, problems, errors, failed in results:
            _validate_text(ctx, name, problems, errors, failed)
        bad = sum(res[3] for res in results)
        mode = " (strict: warnings fail)" if strict else ""
        ctx.out.line(
            f"validated {len(results)} env(s){mode}: {len(results) - bad} ok, {bad} failed"
        )
    return 2 if any(res[3] for res in results) else 0


def _validate_text(
    ctx: Context, env: str | None, problems: list[Problem], errors: int, failed: bool
) -> None:
    verdict = ctx.out.paint("FAILED", "red") if failed else ctx.out.paint("ok", "green")
    counts = f"{errors} error(s), {len(problems) - errors} warning(s)"
    ctx.out.line(f"env {env}: {verdict}: {counts}")
    by_file: dict[str, list[Problem]] = {}
    for p in problems:
        by_file.setdefault(ctx.where(p.file) or "(no file)", []).append(p)
    for file in sorted(by_file):
        ctx.out.line(f"  {file}")
        for p in by_file[file]:
            text = ctx.problem_text(p, with_file=False)
            ctx.out.line(f"    {ctx.out.paint(text, 'red') if p.severity == 'error' else text}")


def cmd_graph(ctx: Context, fmt: str, output: str | None) -> int:
    from . import graph

    r, _ = ctx.load()
    text = graph.to_mermaid(r, os.environ) if fmt == "mermaid" else graph.to_dot(r, os.environ)
    if fmt in ("svg", "png"):
        data = graph.render(text, "svg" if fmt == "svg" else "png")
    else:
        data = text.encode()
    if output is None:
        if fmt == "png" and sys.stdout.isatty():
            raise UsageError("png output is binary; write it to a file with -o FILE")
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    try:
        Path(output).write_bytes(data)
    except OSError as e:
        raise UsageError(f"cannot write {output}: {e.strerror or e}") from None
    print(f"wrote {fmt} graph of env {r.env} to {output}", file=sys.stderr)
    return 0


def cmd_compile(ctx: Context, output: str | None) -> int:
    from . import snapshot

    r, _ = ctx.load()
    if output is None:
        ctx.out.line(snapshot.to_json(r).rstrip("\n"))
        return 0
    try:
        snapshot.write(r, output)
    except OSError as e:
        raise UsageError(f"cannot write {output}: {e.strerror or e}") from None
    edges = sum(len(t) for t in r.fallbacks.values())
    print(
        f"compiled env {r.env} ({len(r.providers)} models, {edges} edges, "
        f"{len(r.warnings)} warning(s)) to {output}",
        file=sys.stderr,
    )
    return 0


def cmd_diff(ctx: Context, env_a: str, env_b: str) -> int:
    from .diff import diff

    a, _ = ctx.load(env_a)
    b, _ = ctx.load(env_b)
    changes = diff(a, b)
    if ctx.as_json:
        ctx.out.json({"from": a.env, "to": b.env, "changes": [asdict(c) for c in changes]})
        return 0
    ctx.out.line(f"diff env {a.env} -> env {b.env}")
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for c in changes:
        if c.kind != "provider":
            ctx.out.line(f"  {c}")
            continue
        # Vendor-wide settings (an env moving every URL) would be one line per model otherwise.
        model_id, _, name = c.subject.rpartition(".")
        grouped.setdefault((name, repr(c.before), repr(c.after)), []).append(model_id)
    for (name, before, after), ids in sorted(grouped.items()):
        models = ", ".join(ids) if len(ids) <= 3 else f"{len(ids)} models: {', '.join(ids)}"
        ctx.out.line(f"  ~ provider {name}: changed {before} -> {after} ({models})")
    ctx.out.line(f"{len(changes)} change(s)" if changes else "no differences")
    return 0


def cmd_show(ctx: Context, *, info: bool) -> int:
    import yaml

    _, composed = ctx.load()
    if info:
        about = {
            "env": composed.env,
            "choices": composed.choices,
            "search_path": list(composed.search_path),
            "overrides": [
                mask_keylike(ctx.labels.get(f"override {o!r}", o)) for o in ctx.overrides
            ],
        }
        ctx.out.line(yaml.safe_dump(about, sort_keys=True).rstrip())
        ctx.out.line("---")
    ctx.out.line(
        yaml.safe_dump(_redact(composed.data), sort_keys=True, allow_unicode=True).rstrip()
    )
    return 0


def _redact(value: Any) -> Any:
    """The data with credentials in URLs masked; keys are only ever named by variable."""
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(mask_keylike(value))
        query = "&".join(f"{q.partition('=')[0]}=***" for q in parts.query.split("&") if q)
        return urlunsplit(parts._replace(query=query))
    if isinstance(value, str):
        return mask_keylike(value)
    return value


def cmd_health(ctx: Context, *, reset: str | None, reset_all: bool) -> int:
    r, _ = ctx.load()
    policy = r.policy.health
    store = r.health
    if policy.enabled and policy.store == "redis":
        from .redis_health import RedisHealthStore

        # Redis down, the store would answer from this process's empty local health: showing
        # that as the shared state, or "resetting" it, would mislead the operator.
        if isinstance(store, RedisHealthStore):
            store.check()
    elif reset or reset_all:
        what = "health tracking is off" if not policy.enabled else "health is per process"
        raise UsageError(
            f"nothing to reset: {what} (policy.health.store={policy.store}); a reset acts on "
            "a shared store: policy.health.store=redis"
        )
    done: list[str] = []
    if reset is not None:
        known_model(r, reset)
        store.reset(reset)
        done = [reset]
    elif reset_all:
        store.reset()
        done = ["*"]
    enabled = sorted(p.id for p in r.providers.values() if p.enabled)
    states = [store.state(model_id) for model_id in enabled]
    url = str(policy.url) if policy.store == "redis" and policy.url is not None else None
    namespace = getattr(store, "namespace", None)
    if ctx.as_json:
        ctx.out.json(
            {
                "env": r.env,
                "enabled": policy.enabled,
                "store": policy.store,
                "url": url,
                "namespace": namespace,
                "reset": done,
                "providers": [asdict(s) | {"in_rotation": s.in_rotation} for s in states],
            }
        )
        return 0
    if not policy.enabled:
        where = "off (policy.health.enabled: false): every model stays in rotation"
    elif url is None:
        where = "kept per process (store: memory): this process has seen no failures"
    else:
        where = f"shared on {url}, namespace {namespace}"
    ctx.out.line(f"health of env {r.env}: {where}")
    for model_id in done:
        ctx.out.line(f"reset {'every model' if model_id == '*' else model_id}: back in rotation")
    rows = [("MODEL", "STATUS", "OUT FOR", "FAILURES", "LAST ERROR")]
    for s in states:
        out_for = f"{s.out_for_s:.0f} s" if not s.in_rotation else "-"
        rows.append((s.provider_id, s.status, out_for, str(s.failures), s.last_error or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for n, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        if n == 0:
            cells = [ctx.out.paint(c, "bold") for c in cells]
        elif row[1] != "in rotation":
            cells[1] = ctx.out.paint(cells[1], "red")
        ctx.out.line("  ".join([*cells, row[4]]).rstrip())
    out = sum(not s.in_rotation for s in states)
    ctx.out.line(f"{len(states) - out} in rotation, {out} out of rotation")
    return 0


def cmd_export(ctx: Context, fmt: str, output: str | None, snapshot_path: str | None) -> int:
    from .export import export
    from .export.schema import to_json_schema

    if fmt == "json-schema":  # the shape of every snapshot: no configuration is read
        result = to_json_schema()
        what = "the JSON Schema of compiled snapshots"
    else:
        if snapshot_path is not None:
            if ctx.env or ctx.overrides or ctx.config_dirs or ctx.config_path:
                raise UsageError(
                    "--snapshot exports the snapshot as it was compiled: drop --env, "
                    "--config-dir, --config-path and overrides (or recompile it)"
                )
            if output is not None and Path(output).resolve() == Path(snapshot_path).resolve():
                raise UsageError(
                    f"-o {output} is the snapshot being exported: write the export to another file"
                )
            from .snapshot import load_snapshot

            r = load_snapshot(snapshot_path)
        else:
            r, _ = ctx.load()
        result = export(r, fmt)
        what = f"env {r.env} as {fmt}"
    for line in result.unsupported:
        print(f"fallback-resolver: warning: not expressed in {fmt}: {line}", file=sys.stderr)
    _write_text(result.text, output)
    if output is not None:
        print(f"wrote {what} to {output}", file=sys.stderr)
    return 0


def cmd_import(
    source_format: str,
    path: str,
    output: str,
    name: str,
    *,
    partial: bool = False,
    force: bool = False,
    config_dirs: Sequence[str] = (),
) -> int:
    """Import, check that the tree loads, and write it: only whole, or with ``partial``; over
    existing files only with ``force``. Exit 0 when what was written loads."""
    from .configfile import MAX_FILE_BYTES
    from .export.from_litellm import from_litellm, write

    try:
        size = os.stat(path).st_size
        if size > MAX_FILE_BYTES:
            raise UsageError(
                f"{path} is {size:,} bytes, more than the {MAX_FILE_BYTES:,} a config file may "
                "be (yaml-too-large): is it the LiteLLM config?"
            )
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    imported = from_litellm(text, registry=load_registry(config_dirs), source=path, env=name)
    # Files a user edits by hand: refused before any is written, and before any is reported.
    existing = [str(p) for p in sorted(Path(output) / rel for rel in imported.files) if _taken(p)]
    if existing and not force:
        it = "it" if len(existing) == 1 else "them"
        raise UsageError(
            f"{', '.join(existing)} already exist{'s' if it == 'it' else ''}: nothing written; "
            f"pass --force to overwrite {it}"
        )
    for line in imported.not_carried:
        print(f"{PROG}: not carried over from {path}: {line}", file=sys.stderr)
    for line in imported.notes:
        print(f"{PROG}: note: {line}", file=sys.stderr)
    problems = _import_problems(imported, config_dirs)
    print(f"{PROG}: {imported.summary()}", file=sys.stderr)
    if problems is not None:
        print(f"{PROG}: the imported config would not load: {problems}", file=sys.stderr)
    if not (partial or (imported.complete and problems is None)):
        left = len(imported.not_carried)
        print(
            f"{PROG}: nothing written: {left} thing(s) could not be carried over"
            + (" and the result would not load" if problems is not None else "")
            + "; pass --partial to write what could",
            file=sys.stderr,
        )
        return 2
    try:
        write(imported, output)
    except OSError as e:
        raise UsageError(f"cannot write {output}: {e.strerror or e}") from None
    needs = f" (it reads {', '.join(imported.variables)})" if imported.variables else ""
    print(
        f"wrote {len(imported.files)} file(s) to {output}; use them with "
        f"--config-dir {output} --env {name}{needs}",
        file=sys.stderr,
    )
    return 0 if problems is None else 2


def _taken(path: Path) -> bool:
    """Whether writing ``path`` would replace something (a dangling link counts: its target
    would be written)."""
    return path.is_symlink() or path.exists()


def _import_problems(imported: Imported, config_dirs: Sequence[str]) -> ConfigError | None:
    """Why the imported tree would not load beside ``config_dirs``, or None when it loads. The
    variables it reads are given placeholders when unset: the check is of the tree, not of
    this machine's environment."""
    from .export.from_litellm import write

    placeholders = {v: "https://placeholder.invalid/v1" for v in imported.variables}
    unset = {k: v for k, v in placeholders.items() if k not in os.environ}
    with tempfile.TemporaryDirectory() as scratch:
        write(imported, scratch)
        os.environ.update(unset)
        try:
            load(env=imported.env, config_dirs=[*config_dirs, scratch])
        except ConfigError as e:
            return e
        finally:
            for name in unset:
                del os.environ[name]
    return None


def _write_text(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {output}: {e.strerror or e}") from None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


def needs_gateway(command: str, e: ImportError) -> UsageError:
    """What to say when ``command`` cannot import the gateway's dependencies."""
    return UsageError(
        f"{command} needs the gateway extra ({e.name} is missing): {install_hint('gateway')}"
    )


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    try:
        from .serve import Limits
        from .serve.auth import check_binding
        from .serve.run import Setup, catch_early_hup, configure_logging, serve, tracing_wanted
    except ImportError as e:
        raise needs_gateway("serve", e) from None
    catch_early_hup()  # a reload asked for while the config loads must not kill the process
    if tracing_wanted(os.environ) and not _installed("opentelemetry.exporter.otlp.proto.http"):
        raise UsageError(
            "OTEL_EXPORTER_OTLP_ENDPOINT asks for spans, and OpenTelemetry is not installed: "
            f"{install_hint('otel')}; or unset the OTEL_EXPORTER_OTLP_* variables"
        )
    for flag, value in (
        ("--max-body-bytes", args.max_body_bytes),
        ("--max-messages", args.max_messages),
        ("--max-depth", args.max_depth),
        ("--max-connections", args.max_connections),
        ("--workers", args.workers),
    ):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    if not (args.grace_s >= 0 and math.isfinite(args.grace_s)):
        raise UsageError(f"--grace-s must be 0 or more seconds, got {args.grace_s}")
    for flag, seconds in (
        ("--header-timeout-s", args.header_timeout_s),
        ("--body-timeout-s", args.body_timeout_s),
        ("--keep-alive-s", args.keep_alive_s),
    ):
        if not (seconds > 0 and math.isfinite(seconds)):
            raise UsageError(f"{flag} must be a positive number of seconds, got {seconds}")
    if args.snapshot is not None and (ctx.overrides or args.config_dir or args.env):
        raise UsageError(
            f"--snapshot {args.snapshot} is served as compiled: drop --env, --config-dir and "
            "the overrides, or compile them into the snapshot"
        )
    setup = Setup(
        snapshot=args.snapshot,
        env=ctx.env,
        overrides=ctx.overrides,
        config_dirs=ctx.config_dirs,
        config_path=ctx.config_path,
        limits=Limits(
            max_body_bytes=args.max_body_bytes,
            max_messages=args.max_messages,
            max_depth=args.max_depth,
            header_timeout_s=args.header_timeout_s,
            body_timeout_s=args.body_timeout_s,
            keep_alive_s=args.keep_alive_s,
            max_connections=args.max_connections,
        ),
        watch=args.watch,
    )
    gateway = setup.gateway()  # a config (or keys file) that does not load stops here, exit 2
    keys = gateway.keys
    check_binding(args.host, keys, insecure_no_auth=args.insecure_no_auth)
    r = gateway.resolver
    configure_logging()  # from here on, every line on stderr is JSON
    log = logging.getLogger("resolver.gateway")
    serving = {
        "event": "serving",
        "env": r.env,
        "models": sum(p.enabled for p in r.providers.values()),
        "client_keys": len(keys),
        "url": f"http://{args.host}:{args.port}/v1",
    }
    log.info(json.dumps(serving))
    if args.workers > 1 and r.policy.health.store != "redis":
        unshared = {
            "event": "health_not_shared",
            "workers": args.workers,
            "why": "each worker keeps its own health, so a failing model leaves rotation "
            "worker by worker (share it with policy.health.store=redis)",
        }
        log.warning(json.dumps(unshared))
    return serve(
        gateway, setup, host=args.host, port=args.port, grace_s=args.grace_s, workers=args.workers
    )
