"""``fallback-resolver import --from litellm``: a LiteLLM proxy config as a deployment config dir.

What LiteLLM holds, and what it becomes here:

- A ``model_name`` served by one deployment is a provider of that id; served by several, a
  group of that id whose members are ``<model_name>-1``, ``-2``... with their ``weight`` and
  ``order``, and the router's ``routing_strategy`` as the group's strategy.
- A deployment's vendor is its model prefix (``groq/llama3-8b``), looked up in the vendor
  registry (:mod:`conf/registry/litellm.yaml`): the base URL is the deployment's ``api_base``
  (plus the path where the vendor serves its OpenAI API) or the registry's default, the key
  variable its ``api_key: os.environ/VAR`` or the registry's. A prefix that needs another
  protocol is refused by name, never rewritten into a call that fails.
- ``os.environ/VAR`` anywhere it is carried becomes ``${oc.env:VAR}``: a reference, never the
  variable's value. A key written in the file is never copied.
- ``rpm``, ``tpm``, ``timeout``, ``num_retries`` and ``max_tokens`` of each deployment are carried;
  prices and ``max_input_tokens`` from ``model_info`` too.
- The three fallback lists become one chain per model with per-edge triggers
  (``edge_policy.<model>.backup_on``): an edge of ``fallbacks`` is taken on every class but
  ``context_window``, ``content_policy`` and ``bad_request`` (LiteLLM sends none of those through
  it), an edge of ``context_window_fallbacks`` only on ``context_window``, and so on.
  ``default_fallbacks`` become the chain of every model without one of its own.
- ``model_group_alias`` entries become groups with the same members as the model they name.
- What LiteLLM accepts and this validation refuses (a model that falls back to itself, a
  cycle) is kept as far as it can be: the edge that closes it is left out, and said so.

Everything that is not carried is listed in :attr:`Imported.not_carried` with its key path;
nothing disappears without a line.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeGuard

import yaml

from ..catalog import ERROR_CLASSES, ErrorClass, Strategy, Vendor
from ..configfile import data_problem, too_deep
from ..edges import cycles_in
from ..errors import ConfigError, Problem
from ..load import load_registry
from .litellm import KEY_PREFIX, OURS, litellm_order

# LiteLLM's default for max_fallbacks (litellm/router.py).
LITELLM_MAX_FALLBACKS = 5
# Env and vendor names become file names and Hydra option names.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
# What each list of LiteLLM's moves a call on: a 400 that is neither a context-window nor a
# content-policy error is never retried by its router ("don't retry a malformed request").
GENERAL: tuple[ErrorClass, ...] = tuple(
    c
    for c in ERROR_CLASSES
    if c not in ("context_window", "content_policy", "bad_request", "local", "limited")
)
LISTS: dict[str, tuple[ErrorClass, ...]] = {
    "fallbacks": GENERAL,
    "context_window_fallbacks": ("context_window",),
    "content_policy_fallbacks": ("content_policy",),
}
# LiteLLM's routing strategies as a group's strategy.
STRATEGIES: dict[str, Strategy] = {
    "simple-shuffle": "weighted",
    "least-busy": "least-busy",
    "latency-based-routing": "latency",
}
# litellm_params read here; anything else in them is reported.
_PARAMS = {
    "model",
    "api_base",
    "api_key",
    "rpm",
    "tpm",
    "weight",
    "order",
    "timeout",
    "num_retries",
    "max_tokens",
    "input_cost_per_token",
    "output_cost_per_token",
}
_INFO = {"input_cost_per_token", "output_cost_per_token", "max_input_tokens", OURS, "id"}
_SETTINGS = {
    *LISTS,
    "default_fallbacks",
    "model_group_alias",
    "routing_strategy",
    "num_retries",
    "max_fallbacks",
    "allowed_fails",
    "cooldown_time",
    "disable_cooldowns",
}


@dataclass(frozen=True, slots=True)
class Imported:
    """The files of a config dir (path relative to it -> YAML text), what was left behind, and
    the counts a user reads first."""

    env: str
    files: dict[str, str]
    not_carried: tuple[str, ...] = field(default=())
    notes: tuple[str, ...] = ()
    """Where what was carried behaves otherwise than in LiteLLM."""
    deployments: int = 0
    """Deployments in the file."""
    carried: int = 0
    """Deployments imported."""
    edges: int = 0
    edges_carried: int = 0
    variables: tuple[str, ...] = ()
    """Environment variables the written config reads when it is loaded (base URLs, models)."""

    @property
    def complete(self) -> bool:
        return not self.not_carried

    def summary(self) -> str:
        return (
            f"{self.carried} of {self.deployments} deployments have a base URL or a known vendor "
            f"prefix; {self.edges_carried} of {self.edges} fallback edges carried"
        )


@dataclass
class _Reader:
    source: str
    registry: Mapping[str, Vendor]
    problems: list[Problem] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    left: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    """Deployments not imported, by reason: (position in model_list, model_name)."""
    notes: list[str] = field(default_factory=list)
    lost_edges: int = 0
    variables: set[str] = field(default_factory=set)

    def leave(self, index: int, name: str, reason: str) -> None:
        """A deployment not imported, and why (said once for all that share the reason)."""
        if reason not in self.left:
            self.dropped.append(reason)  # its place among the other lines
        self.left.setdefault(reason, []).append((index, name))

    def bad(self, key: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem("bad-value", message, key=key, file=self.source, hint=hint))

    def ref(self, value: str) -> str:
        """``value`` with an ``os.environ/VAR`` reference as Hydra's ``${oc.env:VAR}``."""
        if value.startswith(KEY_PREFIX):
            name = value.removeprefix(KEY_PREFIX)
            self.variables.add(name)
            return f"${{oc.env:{name}}}"
        return value


@dataclass
class _Deployment:
    id: str
    group: str
    vendor: str  # as a file and option name
    prefix: str  # its entry in the vendor registry
    fields: dict[str, Any]
    weight: float | None = None
    order: int | None = None


def from_litellm(
    text: str,
    *,
    registry: Mapping[str, Vendor] | None = None,
    source: str = "<litellm config>",
    env: str = "imported",
) -> Imported:
    """The config dir for LiteLLM proxy config ``text``, with vendor prefixes looked up in
    ``registry`` (default: the shipped one); raises :class:`ConfigError` with every problem of
    the file at once when it cannot be read as a LiteLLM config at all."""
    reader = _Reader(source, load_registry() if registry is None else registry)
    if not _NAME.match(env):
        reader.bad("env", f"env name {env!r} is not a plain file name", "e.g. --name imported")
    data = _parse(text)
    if isinstance(data, Problem):
        raise ConfigError([replace(data, file=source)])
    if not isinstance(data, dict) or not isinstance(data.get("model_list"), list):
        included = isinstance(data, dict) and "include" in data
        reader.bad(
            "model_list",
            "a LiteLLM config needs a model_list (a list of deployments)",
            "this file only includes others (include:): import a file holding the model_list"
            if included
            else None,
        )
        raise ConfigError(reader.problems)
    entries = data["model_list"]
    for key in sorted(set(data) - {"model_list", "litellm_settings", "router_settings"}):
        reader.dropped.append(f"{key}: not read (fallback-resolver reads deployments and routing)")
    settings = _settings(reader, data)
    deployments = _deployments(reader, entries, settings)
    if reader.problems:
        raise ConfigError(reader.problems)
    groups = _groups(deployments, settings)
    ids = {d.group for d in deployments}
    aliases = _aliases(reader, settings, groups, ids, {d.id for d in deployments})
    chains, on, edges = _chains(reader, settings, ids)
    for alias, target in aliases.items():  # an alias falls back as the model it names does
        if target in chains:
            chains[alias] = list(chains[target])
            on[alias] = dict(on[target])
    _break_cycles(reader, chains, on)
    fallback_on, triggers = _triggers(on)
    if chains and "context_window" not in fallback_on:
        reader.notes.append(
            "LiteLLM's fallbacks do not move on context-window, content-policy or other 400 "
            f"errors: policy.fallback_on is written as {', '.join(fallback_on)}, where "
            "fallback-resolver's default would also fall back on context_window and "
            "content_policy"
        )
    hops = _setting(settings, "max_fallbacks", LITELLM_MAX_FALLBACKS)
    for model, chain in chains.items():
        theirs = litellm_order(chains, model, hops if isinstance(hops, int) else 5)
        if theirs != chain:
            reader.notes.append(
                f"{model}: LiteLLM tries {', '.join(theirs) or 'nothing'}; the imported chain "
                f"is {', '.join(chain) or 'empty'} (a backup's own fallbacks are not followed)"
            )
    files = _vendor_files(env, deployments)
    vendor_files = sorted(Path(rel).stem for rel in files)
    graph: dict[str, Any] = {"fallbacks": {s: list(t) for s, t in chains.items()}}
    if groups:
        graph["groups"] = groups
    policy_of = {
        source: {"backup_on": {t: list(on) for t, on in edge.items()}}
        for source, edge in triggers.items()
        if edge
    }
    if policy_of:
        graph["edge_policy"] = policy_of
    files[f"fallbacks/{env}.yaml"] = "# @package _global_\n" + _yaml(
        f"Model groups and fallback edges imported from {source}: each list is a whole chain; "
        "backup_on keeps which of LiteLLM's lists an edge came from.",
        graph,
    )
    env_config = {
        "defaults": [
            {"override /registry": "litellm"},
            {"override /providers": vendor_files},
            {"override /fallbacks": env},
        ],
        "policy": {
            **_policy(reader, settings, chains, groups, deployments),
            "fallback_on": list(fallback_on),
        },
    }
    files[f"env/{env}.yaml"] = "# @package _global_\n" + _yaml(
        f"Env imported from {source} (fallback-resolver import --from litellm).", env_config
    )
    return Imported(
        env,
        files,
        _condensed(reader.dropped, reader.left),
        tuple(reader.notes),
        deployments=len(entries),
        carried=len(deployments),
        edges=edges,
        edges_carried=edges - reader.lost_edges,
        variables=tuple(sorted(reader.variables)),
    )


_PER_DEPLOYMENT = re.compile(r"^model_list\[(\d+)\](\.[^:]+: .*)$")


def _condensed(
    lines: Iterable[str], left: Mapping[str, list[tuple[int, str]]] | None = None
) -> tuple[str, ...]:
    """``lines`` with the same key left behind in several deployments said once, with their
    positions: a config of 40 deployments with one unread key each reads as one line. A reason
    deployments were not imported for names them all, with a count: ``model_list[1, 4]
    (2 deployments: 'a', 'b'): bedrock/ is refused: ...``."""
    out: list[str] = []
    at: dict[str, list[int]] = {}
    left = left or {}
    for line in lines:
        if line in left:
            places = left[line]
            names = ", ".join(repr(n) for _, n in places)
            who = names if len(places) == 1 else f"{len(places)} deployments: {names}"
            out.append(f"model_list[{', '.join(str(i) for i, _ in places)}] ({who}): {line}")
            continue
        match = _PER_DEPLOYMENT.match(line)
        if match is None:
            out.append(line)
            continue
        rest = match[2]
        if rest not in at:
            at[rest] = []
            out.append(rest)
        at[rest].append(int(match[1]))
    return tuple(
        f"model_list[{', '.join(map(str, at[line]))}]{line}" if line in at else line for line in out
    )


def _parse(text: str) -> Any:
    """The YAML data, or the problem with it. The parser's error quotes the file, which may
    hold a key: it is not raised, nor kept as the context of the error that is."""
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        return too_deep("")
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        return Problem("malformed-yaml", f"not valid YAML ({where})")
    # The walks below must not take as long as aliases expand.
    return data_problem(data, text) or data


def write(imported: Imported, out_dir: str | Path) -> None:
    """Write the files under ``out_dir`` (created if missing; other files are left alone)."""
    root = Path(out_dir)
    for rel, text in imported.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _settings(reader: _Reader, data: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Routing settings by name -> (the section it came from, value); router_settings win, as
    the proxy passes them to the Router last."""
    merged: dict[str, tuple[str, Any]] = {}
    for section in ("litellm_settings", "router_settings"):
        value = data.get(section) or {}
        if not isinstance(value, dict):
            reader.bad(section, f"{section} is not a mapping")
            continue
        for key, item in value.items():
            if key in _SETTINGS:
                merged[key] = (section, item)
            else:
                reader.dropped.append(f"{section}.{key}: no fallback-resolver equivalent")
    return merged


def _setting(settings: Mapping[str, tuple[str, Any]], name: str, default: Any = None) -> Any:
    return settings[name][1] if name in settings else default


def _deployments(
    reader: _Reader, entries: list[Any], settings: Mapping[str, tuple[str, Any]]
) -> list[_Deployment]:
    named = Counter(
        e["model_name"]
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("model_name"), str)
    )
    seen: Counter[str] = Counter()
    taken: set[str] = set(named)
    out: list[_Deployment] = []
    for i, entry in enumerate(entries):
        key = f"model_list[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("model_name"), str):
            reader.bad(key, "each deployment needs a model_name")
            continue
        name = entry["model_name"]
        params = entry.get("litellm_params")
        info = entry.get("model_info") or {}
        if not isinstance(params, dict) or not isinstance(params.get("model"), str):
            reader.bad(f"{key}.litellm_params.model", f"deployment {name!r} names no model")
            continue
        if not isinstance(info, dict):
            reader.bad(f"{key}.model_info", f"model_info of {name!r} is not a mapping")
            continue
        seen[name] += 1
        deployment = _deployment(reader, key, name, params, info)
        if deployment is None:
            continue
        if named[name] > 1:  # a member of a group: an id of its own (LiteLLM's, if it has one)
            given = info.get("id")
            member = given if isinstance(given, str) and given.strip() else f"{name}-{seen[name]}"
            while member in taken:
                member += "x"
            taken.add(member)
            deployment.id = member
        out.append(deployment)
    return out


def _deployment(
    reader: _Reader, key: str, name: str, params: dict[str, Any], info: dict[str, Any]
) -> _Deployment | None:
    model = params["model"]
    index = int(key.removeprefix("model_list[").removesuffix("]"))
    if "*" in name or "*" in model:
        reader.leave(
            index,
            name,
            "a wildcard routes any model name to its vendor; fallback-resolver calls "
            "declared models only: list the models you call",
        )
        return None
    if model.startswith(KEY_PREFIX):
        reader.leave(
            index,
            name,
            "the model string is read from a variable at run time, so its vendor is unknown "
            "here: write vendor/model in the file",
        )
        return None
    prefix, slash, rest = model.partition("/")
    if not slash:
        prefix, rest = _inferred(model), model
        if prefix is None:
            reader.leave(
                index,
                name,
                "the model names no vendor prefix (LiteLLM infers it from its price list): "
                "write it as vendor/model, e.g. openai/gpt-4o",
            )
            return None
    vendor = reader.registry.get(prefix)
    if vendor is None:
        reader.leave(
            index,
            name,
            f"vendor prefix {prefix!r} is not in the vendor registry: add it under registry: "
            "in your config dir (import --config-dir)",
        )
        return None
    if vendor.refused is not None:
        reader.leave(index, name, f"{prefix}/ is refused: {vendor.refused}")
        return None
    base = params.get("api_base")
    if isinstance(base, str):
        base_url = _joined(reader.ref(base), vendor.api_base_path)
    elif vendor.base_url is not None:
        base_url = vendor.base_url
    else:
        reader.leave(
            index, name, f"{prefix}/ has no default base URL and the deployment gives no api_base"
        )
        return None
    fields: dict[str, Any] = {
        "model": reader.ref(rest),
        "base_url": base_url,
        "api_key_env": _key_env(reader, key, name, params, vendor),
        "display_name": name,
        "tier": "imported",
        "pricing": {
            "prompt": _per_million(reader, key, info, params, "input_cost_per_token"),
            "completion": _per_million(reader, key, info, params, "output_cost_per_token"),
        },
    }
    ours = info.get(OURS)
    if isinstance(ours, dict):  # written by our own export: brought back
        for ours_name, kind in (("display_name", str), ("tier", str), ("reasoning", bool)):
            value = ours.get(ours_name)
            if isinstance(value, kind):
                fields[ours_name] = value
            elif value is not None:
                reader.dropped.append(f"{key}.model_info.{OURS}.{ours_name}: {value!r} not read")
    # Every number is read by one rule: the right kind, in range, else said so and left out.
    for ours_name, section, theirs, least in (
        ("context_window", info, "model_info.max_input_tokens", 1),
        ("rpm", params, "litellm_params.rpm", 1),
        ("tpm", params, "litellm_params.tpm", 1),
        ("max_tokens", params, "litellm_params.max_tokens", 1),
        ("retries", params, "litellm_params.num_retries", 0),
    ):
        value = section.get(theirs.partition(".")[2])
        if isinstance(value, int) and not isinstance(value, bool) and value >= least:
            fields[ours_name] = value
        elif value is not None:
            reader.dropped.append(
                f"{key}.{theirs}: {value!r} is not a whole number of at least {least}"
            )
    timeout = params.get("timeout")
    if _number(timeout) and timeout > 0:
        fields["timeout_s"] = float(timeout)
    elif timeout is not None:
        reader.dropped.append(f"{key}.litellm_params.timeout: {timeout!r} is not seconds")
    for extra in sorted(set(params) - _PARAMS):
        reader.dropped.append(f"{key}.litellm_params.{extra}: not carried")
    for extra in sorted(set(info) - _INFO):
        reader.dropped.append(f"{key}.model_info.{extra}: not carried")
    deployment = _Deployment(name, name, _slug(prefix), prefix, fields)
    weight, order = params.get("weight"), params.get("order")
    if _number(weight) and weight >= 0:
        deployment.weight = float(weight)
    elif weight is not None:
        reader.dropped.append(f"{key}.litellm_params.weight: {weight!r} is not a weight")
    if isinstance(order, int) and not isinstance(order, bool) and order >= 0:
        deployment.order = order
    elif order is not None:
        reader.dropped.append(f"{key}.litellm_params.order: {order!r} is not an order")
    return deployment


def _inferred(model: str) -> str | None:
    """The vendor LiteLLM infers for a model string without a prefix, for the names whose
    vendor is not in doubt."""
    if model.startswith(("gpt-", "o1", "o3", "o4", "chatgpt-")):
        return "openai"
    if model.startswith("claude-"):
        return "anthropic"
    return None


def _joined(base: str, path: str) -> str:
    base = base.rstrip("/")
    return base if not path or base.endswith(path) else base + path


def _key_env(
    reader: _Reader, key: str, name: str, params: dict[str, Any], vendor: Vendor
) -> str | None:
    """The variable a deployment's key is read from: its ``os.environ/VAR``; else, at the
    vendor's own endpoint, the registry's usual variable (LiteLLM reads it too); else none (an
    endpoint of its own given without a key, such as a local server)."""
    api_key = params.get("api_key")
    if isinstance(api_key, str) and api_key.startswith(KEY_PREFIX):
        return api_key.removeprefix(KEY_PREFIX)
    usual = None if isinstance(params.get("api_base"), str) else vendor.api_key_env
    if api_key is not None:
        instead = f"it reads {usual}" if usual else "it reads none"
        reader.dropped.append(
            f"{key}.litellm_params.api_key: {name!r} has its key written in the file; keys are "
            f"never imported ({instead}): name a variable, api_key: {KEY_PREFIX}MY_KEY"
        )
    return usual


def _per_million(
    reader: _Reader, key: str, info: dict[str, Any], params: dict[str, Any], name: str
) -> float:
    """A per-token price as ours per million tokens; 0 (and said so) for one that is not a
    price: a negative or endless number would not load, a missing one is unknown."""
    where, value = (
        (f"{key}.model_info.{name}", info[name])
        if name in info
        else (
            f"{key}.litellm_params.{name}",
            params.get(name),
        )
    )
    if value is None:
        return 0.0
    if not _number(value) or value < 0:
        reader.dropped.append(f"{where}: {value!r} is not a price; imported as 0")
        return 0.0
    return round(float(value) * 1_000_000, 9)


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _slug(name: str) -> str:
    """``name`` as a vendor name that is safe as a file and option name."""
    return re.sub(r"[^a-z0-9_-]+", "_", name.lower()).strip("_-") or "vendor"


def _groups(
    deployments: list[_Deployment], settings: Mapping[str, tuple[str, Any]]
) -> dict[str, Any]:
    by_group: dict[str, list[_Deployment]] = {}
    for d in deployments:
        by_group.setdefault(d.group, []).append(d)
    theirs = _setting(settings, "routing_strategy", "simple-shuffle")
    strategy = STRATEGIES.get(str(theirs), "weighted")
    groups: dict[str, Any] = {}
    for group, members in by_group.items():
        if len(members) == 1 and members[0].id == group:
            continue
        weights = _shuffle_weights(members) if strategy == "weighted" else {}
        groups[group] = {
            "strategy": strategy,
            "members": {
                m.id: {
                    k: v
                    for k, v in (("weight", weights.get(m.id)), ("order", m.order))
                    if v is not None
                }
                for m in members
            },
        }
    return groups


def _shuffle_weights(members: list[_Deployment]) -> dict[str, float]:
    """The weights LiteLLM's simple-shuffle draws a group's deployments by: their ``weight``,
    else their ``rpm``, else their ``tpm``, a missing one read as 0 once another deployment has
    one (litellm/router_strategy/simple_shuffle.py); none of them: no weights (uniform)."""
    for metric in ("weight", "rpm", "tpm"):
        values = {}
        for m in members:
            value = m.weight if metric == "weight" else m.fields.get(metric)
            values[m.id] = float(value) if value is not None else 0.0
        if any(v > 0 for v in values.values()):
            return values
    return {}


def _aliases(
    reader: _Reader,
    settings: Mapping[str, tuple[str, Any]],
    groups: dict[str, Any],
    ids: set[str],
    deployments: set[str],
) -> dict[str, str]:
    """``model_group_alias``: each alias a group with the members of the model it names, added
    to ``ids``; returns alias -> that model. An alias takes no model's or deployment's id."""
    models = set(ids)
    aliases = _setting(settings, "model_group_alias") or {}
    section = settings["model_group_alias"][0] if "model_group_alias" in settings else ""
    carried: dict[str, str] = {}
    if not isinstance(aliases, dict):
        reader.dropped.append(f"{section}.model_group_alias: not a mapping, not read")
        return carried
    for alias, target in aliases.items():
        if isinstance(target, dict):
            target = target.get("model")
        if not isinstance(target, str) or target not in models:
            reader.dropped.append(
                f"{section}.model_group_alias.{alias}: {target!r} is not an imported model"
            )
            continue
        if alias in ids or alias in deployments:
            reader.dropped.append(
                f"{section}.model_group_alias.{alias}: the alias is the id of a model or "
                "deployment of its own"
            )
            continue
        groups[alias] = {**groups[target]} if target in groups else {"members": [target]}
        ids.add(alias)
        carried[alias] = target
    return carried


def _lists(
    reader: _Reader, settings: Mapping[str, tuple[str, Any]], name: str
) -> dict[str, list[Any]]:
    if name not in settings:
        return {}
    section, entries = settings[name]
    out: dict[str, list[Any]] = {}
    if not isinstance(entries, list):
        reader.dropped.append(f"{section}.{name}: not a list of {{model: [backups]}}, not read")
        return out
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            reader.dropped.append(f"{section}.{name}[{i}]: not a {{model: [backups]}} mapping")
            continue
        for source, targets in entry.items():
            if not isinstance(targets, list):
                reader.dropped.append(f"{section}.{name}[{i}].{source}: backups are not a list")
                continue
            out.setdefault(str(source), []).extend(targets)
    return out


def _chains(
    reader: _Reader, settings: Mapping[str, tuple[str, Any]], ids: set[str]
) -> tuple[dict[str, list[str]], dict[str, dict[str, tuple[ErrorClass, ...]]], int]:
    """Each model's whole chain, the classes each of its edges is taken on (by the lists it
    was in), and how many edges the file had."""
    chains: dict[str, list[str]] = {}
    on: dict[str, dict[str, list[ErrorClass]]] = {}
    total = 0
    lists = {name: _lists(reader, settings, name) for name in LISTS}
    default = _setting(settings, "default_fallbacks") or []
    defaulted: set[str] = set()
    if isinstance(default, list) and default:
        # LiteLLM's default_fallbacks serve every model without general fallbacks of its own.
        general = lists["fallbacks"]
        for model in sorted(ids):
            if model not in general:
                general[model] = [t for t in default if t != model]
                defaulted.add(model)
        total += len(default)
        for target in default:
            if target not in ids:
                reader.lost_edges += 1
                reader.dropped.append(
                    f"{settings['default_fallbacks'][0]}.default_fallbacks: {target!r}, not an "
                    "imported model"
                )
    for name, by_source in lists.items():
        section = settings[name][0] if name in settings else "router_settings"
        for source, targets in by_source.items():
            expanded = name == "fallbacks" and source in defaulted
            total += 0 if expanded else len(targets)
            if source not in ids:
                reader.dropped.append(
                    f"{section}.{name}: edges of {source!r}, not an imported model"
                )
                reader.lost_edges += len(targets)
                continue
            for target in targets:
                if not isinstance(target, str) or target not in ids:
                    if not expanded:
                        reader.lost_edges += 1
                        reader.dropped.append(
                            f"{section}.{name}: {source!r} -> {target!r}, not an imported model"
                        )
                    continue
                if target == source:
                    reader.lost_edges += 1
                    reader.dropped.append(
                        f"{section}.{name}: {source!r} -> itself; LiteLLM accepts it and skips "
                        "the model it already tried, fallback-resolver refuses it (self-loop)"
                    )
                    continue
                chain = chains.setdefault(source, [])
                if target not in chain:
                    chain.append(target)
                classes = on.setdefault(source, {}).setdefault(target, [])
                classes += [c for c in LISTS[name] if c not in classes]
    return chains, {s: {t: tuple(c) for t, c in by.items()} for s, by in on.items()}, total


def _triggers(
    on: Mapping[str, Mapping[str, tuple[ErrorClass, ...]]],
) -> tuple[tuple[ErrorClass, ...], dict[str, dict[str, tuple[ErrorClass, ...]]]]:
    """The policy's fallback_on (every class some edge is taken on), and per-edge triggers
    for the edges taken on fewer: a file without the special lists needs no trigger at all."""
    used = {c for by in on.values() for classes in by.values() for c in classes}
    fallback_on = tuple(c for c in ERROR_CLASSES if c in used) or GENERAL
    triggers = {
        source: narrowed
        for source, by in on.items()
        if (narrowed := {t: c for t, c in by.items() if set(c) != set(fallback_on)})
    }
    return fallback_on, triggers


def _break_cycles(
    reader: _Reader,
    chains: dict[str, list[str]],
    on: dict[str, dict[str, tuple[ErrorClass, ...]]],
) -> None:
    """Leave out the edge that closes each cycle, saying so: LiteLLM walks a cycle (it skips
    models it already tried), this validation refuses one."""
    while (cycle := next(cycles_in(chains), None)) is not None:
        source, target = cycle[-1], cycle[0]
        chains[source].remove(target)
        on.get(source, {}).pop(target, None)
        reader.lost_edges += 1
        reader.dropped.append(
            f"fallbacks: {source!r} -> {target!r} left out: it closes the cycle "
            f"{' -> '.join([*cycle, cycle[0]])}, which LiteLLM accepts and fallback-resolver "
            "refuses (a backup's backups are tried by one chain here: list them in it)"
        )


def _policy(
    reader: _Reader,
    settings: Mapping[str, tuple[str, Any]],
    chains: Mapping[str, list[str]],
    groups: Mapping[str, Any],
    deployments: Sequence[_Deployment],
) -> dict[str, Any]:
    retries = _setting(settings, "num_retries", 0)
    retries = retries if isinstance(retries, int) and retries >= 0 else 0
    # A deployment's own num_retries counts towards max_attempts as the router's does.
    most = max([retries, *(d.fields.get("retries", 0) for d in deployments)])
    hops = _setting(settings, "max_fallbacks", LITELLM_MAX_FALLBACKS)
    hops = hops if isinstance(hops, int) and hops >= 0 else LITELLM_MAX_FALLBACKS

    def size(model: str) -> int:
        members = groups.get(model, {}).get("members", [model])
        return len(members)

    # Room for every call LiteLLM could make: each deployment of the model and of each backup.
    needed = max(
        (size(s) + sum(size(t) for t in chain[:hops]) for s, chain in chains.items()),
        default=max((size(g) for g in groups), default=1),
    )
    policy: dict[str, Any] = {
        # Each imported list is a whole chain: a backup's own edges are not followed from it.
        "max_depth": 1,
        "max_attempts": max(needed, 1) * (1 + most),
        "retries": retries,
    }
    if any(size(g) > 1 for g in groups):
        reader.notes.append(
            "routing: a failing deployment hands over to the other deployments of its group "
            "before the group's fallbacks; LiteLLM goes to the fallbacks unless num_retries "
            "picks another deployment"
        )
    if _setting(settings, "disable_cooldowns") is True:
        policy["health"] = {"enabled": False}
    else:
        health: dict[str, Any] = {}
        fails = _setting(settings, "allowed_fails")
        if isinstance(fails, int) and fails >= 0:
            health["failure_threshold"] = fails + 1
        cooldown = _setting(settings, "cooldown_time")
        if isinstance(cooldown, int | float) and cooldown > 0:
            health["cooldown_s"] = float(cooldown)
        if health:
            policy["health"] = health
    strategy = _setting(settings, "routing_strategy")
    if strategy is not None and strategy not in STRATEGIES:
        section = settings["routing_strategy"][0]
        reader.dropped.append(
            f"{section}.routing_strategy: {strategy!r} has no equivalent; groups pick by weight"
        )
    return policy


def _vendor_files(env: str, deployments: list[_Deployment]) -> dict[str, str]:
    files = {}
    by_vendor: dict[str, list[_Deployment]] = {}
    for d in deployments:
        by_vendor.setdefault(d.vendor, []).append(d)
    for vendor, members in sorted(by_vendor.items()):
        # The vendor's settings are its members' most common ones; a member that differs
        # keeps its own.
        shared = {
            name: Counter(m.fields[name] for m in members).most_common(1)[0][0]
            for name in ("base_url", "api_key_env")
        }
        entries = {
            m.id: {k: v for k, v in m.fields.items() if not (k in shared and shared[k] == v)}
            for m in members
        }
        files[f"providers/{env}_{vendor}.yaml"] = _yaml(
            f"Vendor {vendor} imported from a LiteLLM config.",
            {vendor: {"registry": members[0].prefix, **shared, "models": entries}},
        )
    return files


def _yaml(comment: str, data: Any) -> str:
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return f"# {comment}\n{body}"
