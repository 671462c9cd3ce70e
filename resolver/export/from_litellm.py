"""``fallback-resolver import --from litellm``: a LiteLLM proxy config as a deployment config dir.

The dir holds one vendor file per vendor (``model_info.fallback_resolver.vendor`` when the
config has it, as our export writes, else one per ``api_base``), the fallback edges, and an env
that selects just those, so ``load(env=NAME, config_dirs=[DIR])`` composes it beside the
shipped tree without touching the shipped envs. Files are named after the env, so they never
shadow shipped ones.

Each imported list is taken as the whole chain (``max_depth: 1``), which is what our export
writes. Where LiteLLM would walk further (it follows a backup's own fallbacks first), the
difference is reported. Everything that cannot be carried over is listed in
:attr:`Imported.not_carried`; a key written in the file as a value is never copied, and never
quoted in a message.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..errors import ConfigError, Problem
from .litellm import KEY_PREFIX, OURS, litellm_order

# LiteLLM's default for max_fallbacks (litellm/router.py).
LITELLM_MAX_FALLBACKS = 5
# Env and vendor names become file names and Hydra option names.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class Imported:
    """The files of a config dir (path relative to it -> YAML text), and what was left behind."""

    env: str
    files: dict[str, str]
    not_carried: tuple[str, ...] = field(default=())


@dataclass
class _Reader:
    source: str
    problems: list[Problem] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def bad(self, key: str, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem("bad-value", message, key=key, file=self.source, hint=hint))


def from_litellm(text: str, *, source: str = "<litellm config>", env: str = "imported") -> Imported:
    """The config dir for LiteLLM proxy config ``text``; raises :class:`ConfigError` with every
    problem of the file at once when it cannot be read as one."""
    reader = _Reader(source)
    if not _NAME.match(env):
        reader.bad("env", f"env name {env!r} is not a plain file name", "e.g. --name imported")
    data = _parse(text)
    if isinstance(data, Problem):
        raise ConfigError([replace(data, file=source)])
    if not isinstance(data, dict) or not isinstance(data.get("model_list"), list):
        reader.bad("model_list", "a LiteLLM config needs a model_list (a list of deployments)")
        raise ConfigError(reader.problems)
    models = _models(reader, data["model_list"])
    settings = _settings(reader, data)
    fallbacks = _fallbacks(reader, settings, "fallbacks", models)
    _compare(reader, settings, "context_window_fallbacks", fallbacks, models)
    _compare(reader, settings, "content_policy_fallbacks", fallbacks, models)
    if reader.problems:
        raise ConfigError(reader.problems)
    policy = _policy(reader, settings, fallbacks)
    for source, chain in fallbacks.items():
        theirs = litellm_order(fallbacks, source, _max_fallbacks(settings))
        if theirs != chain:
            reader.dropped.append(
                f"{source}: LiteLLM tries {', '.join(theirs) or 'nothing'}; the imported chain "
                f"is {', '.join(chain) or 'empty'} (a backup's own fallbacks are not followed)"
            )
    files = _vendor_files(env, models)
    vendors = sorted(Path(rel).stem for rel in files)
    files[f"fallbacks/{env}.yaml"] = _yaml(
        f"Fallback edges imported from {source}: each list is a whole chain.", fallbacks
    )
    env_config = {
        "defaults": [
            {"override /providers": vendors},
            {"override /fallbacks": env},
        ],
        "policy": policy,
    }
    files[f"env/{env}.yaml"] = "# @package _global_\n" + _yaml(
        f"Env imported from {source} (fallback-resolver import --from litellm).", env_config
    )
    return Imported(env, files, tuple(reader.dropped))


def _parse(text: str) -> Any:
    """The YAML data, or the problem with it. The parser's error quotes the file, which may
    hold a key: it is not raised, nor kept as the context of the error that is."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        return Problem("malformed-yaml", f"not valid YAML ({where})")


def write(imported: Imported, out_dir: str | Path) -> None:
    """Write the files under ``out_dir`` (created if missing; other files are left alone)."""
    root = Path(out_dir)
    for rel, text in imported.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _models(reader: _Reader, entries: list[Any]) -> dict[str, dict[str, Any]]:
    """model id -> our model fields plus ``vendor``, ``base_url`` and ``api_key_env``."""
    models: dict[str, dict[str, Any]] = {}
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
        if name in models:
            reader.dropped.append(
                f"{key}: a second deployment of {name!r} (LiteLLM load-balances them; a "
                "model id here is one deployment): only the first is imported"
            )
            continue
        base_url = params.get("api_base")
        if not isinstance(base_url, str):
            reader.dropped.append(
                f"{key}: {name!r} has no api_base (fallback-resolver calls OpenAI-compatible "
                "endpoints): not imported, nor its edges"
            )
            continue
        ours = info.get(OURS)
        ours = ours if isinstance(ours, dict) else {}
        model = _fields(reader, key, name, params, info, ours)
        model["base_url"] = base_url
        model["vendor"] = _slug(str(ours.get("vendor") or _host(base_url)))
        models[name] = model
    return models


def _fields(
    reader: _Reader,
    key: str,
    name: str,
    params: dict[str, Any],
    info: dict[str, Any],
    ours: dict[str, Any],
) -> dict[str, Any]:
    provider, _, model = params["model"].partition("/")
    if provider != "openai":
        reader.dropped.append(
            f"{key}: {name!r} uses LiteLLM's {provider!r} provider; imported as an "
            "OpenAI-compatible endpoint at its api_base"
        )
    fields: dict[str, Any] = {
        "model": model or params["model"],
        "display_name": str(ours.get("display_name") or name),
        "tier": str(ours.get("tier") or "imported"),
        "reasoning": bool(ours.get("reasoning", False)),
        "pricing": {
            "prompt": _per_million(info, params, "input_cost_per_token"),
            "completion": _per_million(info, params, "output_cost_per_token"),
        },
    }
    api_key = params.get("api_key")
    if isinstance(api_key, str) and api_key.startswith(KEY_PREFIX):
        fields["api_key_env"] = api_key.removeprefix(KEY_PREFIX)
    else:
        fields["api_key_env"] = None
        if api_key is not None:
            reader.dropped.append(
                f"{key}.litellm_params.api_key: {name!r} has its key written in the file; "
                "keys are never imported: name a variable instead "
                f"(api_key: {KEY_PREFIX}MY_KEY), and set api_key_env"
            )
    window = info.get("max_input_tokens")
    if isinstance(window, int) and window > 0:
        fields["context_window"] = window
    timeout = params.get("timeout")
    if isinstance(timeout, int | float) and timeout > 0:
        fields["timeout_s"] = float(timeout)
    return fields


def _per_million(info: dict[str, Any], params: dict[str, Any], name: str) -> float:
    value = info.get(name, params.get(name, 0.0))
    return round(float(value) * 1_000_000, 9) if isinstance(value, int | float) else 0.0


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:  # not a URL; validation of the composed config reports it
        return ""


def _slug(name: str) -> str:
    """``name`` as a vendor name that is safe as a file and option name."""
    return re.sub(r"[^a-z0-9_-]+", "_", name.lower()).strip("_-") or "vendor"


def _settings(reader: _Reader, data: dict[str, Any]) -> dict[str, Any]:
    """router_settings, with the fallback lists LiteLLM also accepts in litellm_settings."""
    merged: dict[str, Any] = {}
    for section in ("litellm_settings", "router_settings"):
        value = data.get(section) or {}
        if not isinstance(value, dict):
            reader.bad(section, f"{section} is not a mapping")
            continue
        merged.update(value)
    return merged


def _fallbacks(
    reader: _Reader, settings: dict[str, Any], name: str, models: Mapping[str, Any]
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    entries = settings.get(name) or []
    if not isinstance(entries, list):
        reader.bad(name, f"{name} is not a list of {{model: [backups]}}")
        return out
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            reader.bad(f"{name}[{i}]", f"{name}[{i}] is not a {{model: [backups]}} mapping")
            continue
        for source, targets in entry.items():
            if not isinstance(targets, list):
                reader.bad(f"{name}[{i}].{source}", f"the backups of {source!r} are not a list")
                continue
            if source not in models:
                reader.dropped.append(f"{name}: edges of {source!r}, not an imported model")
                continue
            kept = []
            for target in targets:
                if isinstance(target, str) and target in models:
                    kept.append(target)
                else:
                    reader.dropped.append(
                        f"{name}: {source!r} -> {target!r}, not an imported model"
                    )
            out[str(source)] = kept
    return out


def _compare(
    reader: _Reader,
    settings: dict[str, Any],
    name: str,
    fallbacks: Mapping[str, list[str]],
    models: Mapping[str, Any],
) -> None:
    """Fallback-resolver has one chain per model (narrowed after a context-window failure to
    larger windows): a special list that adds backups cannot be carried over."""
    for source, targets in _fallbacks(_Reader(reader.source), settings, name, models).items():
        extra = [t for t in targets if t not in fallbacks.get(source, [])]
        if extra:
            reader.dropped.append(
                f"{name}: {source!r} -> {', '.join(extra)} (not in its fallbacks; only "
                "fallbacks are imported)"
            )


def _policy(
    reader: _Reader, settings: dict[str, Any], fallbacks: Mapping[str, list[str]]
) -> dict[str, Any]:
    retries = settings.get("num_retries", 0)
    retries = retries if isinstance(retries, int) and retries >= 0 else 0
    hops = _max_fallbacks(settings)
    longest = max((len(t) for t in fallbacks.values()), default=0)
    policy: dict[str, Any] = {
        # Each imported list is a whole chain: a backup's own edges are not followed from it.
        "max_depth": 1,
        # Room for every call LiteLLM would make: each model of the chain, each retried.
        "max_attempts": (1 + min(hops, longest)) * (1 + retries),
        "retries": retries,
    }
    if settings.get("disable_cooldowns") is True:
        policy["health"] = {"enabled": False}
    else:
        health: dict[str, Any] = {}
        fails = settings.get("allowed_fails")
        if isinstance(fails, int) and fails >= 0:
            health["failure_threshold"] = fails + 1
        cooldown = settings.get("cooldown_time")
        if isinstance(cooldown, int | float) and cooldown > 0:
            health["cooldown_s"] = float(cooldown)
        if health:
            policy["health"] = health
    for ignored in sorted(set(settings) - _READ):
        reader.dropped.append(f"router_settings.{ignored}: no fallback-resolver equivalent")
    return policy


def _max_fallbacks(settings: Mapping[str, Any]) -> int:
    hops = settings.get("max_fallbacks", LITELLM_MAX_FALLBACKS)
    return hops if isinstance(hops, int) and hops >= 0 else LITELLM_MAX_FALLBACKS


_READ = {
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "num_retries",
    "max_fallbacks",
    "allowed_fails",
    "cooldown_time",
    "disable_cooldowns",
}


def _vendor_files(env: str, models: Mapping[str, dict[str, Any]]) -> dict[str, str]:
    files = {}
    by_vendor: dict[str, dict[str, dict[str, Any]]] = {}
    for model_id, fields in models.items():
        by_vendor.setdefault(fields["vendor"], {})[model_id] = fields
    for vendor, members in sorted(by_vendor.items()):
        # The vendor's settings are its members' most common ones; a member that differs
        # keeps its own.
        shared = {
            name: Counter(m[name] for m in members.values()).most_common(1)[0][0]
            for name in ("base_url", "api_key_env")
        }
        entries = {}
        for model_id, fields in members.items():
            entries[model_id] = {
                k: v
                for k, v in fields.items()
                if k != "vendor" and not (k in shared and shared[k] == v)
            }
        files[f"providers/{env}_{vendor}.yaml"] = _yaml(
            f"Vendor {vendor} imported from a LiteLLM config.",
            {vendor: shared | {"models": entries}},
        )
    return files


def _yaml(comment: str, data: Any) -> str:
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return f"# {comment}\n{body}"
