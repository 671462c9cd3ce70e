"""Hydra's composition failures turned into problems that name the file, key or override to
fix, with a hint that fixes it (never Hydra's advice to add an unknown key with ``+``)."""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Collection, Sequence
from typing import Any

from hydra.core.object_type import ObjectType
from hydra.core.override_parser.types import Override
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf

from . import _hydra
from ._hydra import CachingConfigRepository
from .catalog import mask_url
from .configfile import file_label
from .errors import Problem, closest, did_you_mean

PRIMARY = "config"
ENV_GROUP = "env"


def config_label(repo: CachingConfigRepository, config_path: str) -> str:
    """The file a config path (``env/prod``) names, as problems show it."""
    config_path = config_path.lstrip("/")
    name = _hydra.config_file_name(config_path)
    for source in repo.get_sources():
        if source.is_config(config_path):
            return file_label(os.path.join(source.path, name))
    return name


_KIND = {int: "a number", float: "a number", bool: "a boolean", type(None): "null"}


def group_paths(parsed: Sequence[Override], repo: CachingConfigRepository) -> list[Problem]:
    """Group choices that climb out of their group (``env=../../elsewhere/evil``), and choices
    that are not names (``env=2024``, ``env=null``: a number, a null, a boolean)."""
    problems = []
    for override in parsed:
        value = override.value()
        names = value if isinstance(value, list) else [value]
        if not repo.group_exists(override.key_or_group):
            continue
        where = mask_url(f"override {override.input_line!r}")
        # (A mapping is no choice: `++fallbacks={...}` sets the key of the same name.)
        odd = next((n for n in names if type(n) in _KIND), ...)
        if odd is not ... and not override.is_delete():
            group = override.key_or_group
            # As written (true, not Python's True), when the choice is the whole value.
            line = override.input_line or ""
            raw = str(odd) if isinstance(value, list) or "=" not in line else line.split("=", 1)[1]
            problems.append(
                Problem(
                    "bad-override",
                    f"{group}={raw} chooses the {group} by {_KIND.get(type(odd), 'a value')}, "
                    "not by name",
                    file=where,
                    hint=f"quote the name to choose the file {group}/{raw}.yaml: "
                    f"\"{group}='{raw}'\"",
                )
            )
            continue
        if all(not isinstance(n, str) or ".." not in n.split("/") for n in names):
            continue
        problems.append(
            Problem(
                "bad-env-name" if override.key_or_group == ENV_GROUP else "bad-override",
                f"{override.input_line!r} names a file outside the config group",
                file=where,
                hint=f"give a name from the {override.key_or_group}/ folder of a config dir",
            )
        )
    return problems


_PLACE = re.compile(r"In '?([^'\s:]+)'?: |defined in (\S+)")


_TWICE = re.compile(
    r"(?:Multiple values for (?P<a>[\w/.@-]+)\."
    r"|(?P<b>[\w/.@-]+) appears more than once in the final defaults list)"
)


def defaults_problem(
    e: BaseException,
    repo: CachingConfigRepository,
    asked: str | None,
    *,
    override_groups: Collection[str] = (),
    env: str | None = None,
) -> Problem:
    """A defaults-list failure, placed in the file Hydra names or else the one it was reading
    (the hint names the command-line group choices that may be the cause instead). A group
    chosen twice that no command-line override chooses was chosen again by the env's own
    defaults list: that is the file to fix."""
    text = str(e).strip()
    found = _PLACE.search(text)
    where = next(g for g in found.groups() if g) if found else asked
    file = config_label(repo, where) if where else None
    message = first_line(e)
    if found and found.start() == 0:
        message = message[found.end() :] or message
    if isinstance(e, AssertionError) and any(
        frame.name == "_update_overrides" for frame in traceback.extract_tb(e.__traceback__)
    ):
        return Problem(
            "bad-defaults",
            "an `override` entry comes before a plain entry in the defaults list",
            file=file,
            hint="put every `override ...` entry at the end of the defaults list",
        )
    if "extension" in text and asked:  # Hydra 1.4 refuses a .yml file by name
        wrong = _wrong_extension(repo, asked.lstrip("/"), None)
        if wrong is not None:
            return wrong
    if isinstance(e, TypeError) and not found:
        return Problem(
            "bad-override",
            "a config group's choice must be an option name or a list of names",
            hint="e.g. providers=[synthetic,together] or env=staging",
        )
    if text.startswith("Duplicate _self_"):
        return Problem(
            "duplicate-self",
            "`_self_` appears more than once in the defaults list",
            file=file,
            hint="keep one `_self_`: where it stands decides whether this file's own keys "
            "come before or after its defaults",
        )
    twice = _TWICE.match(text)
    group = twice and (twice.group("a") or twice.group("b"))
    if group and env and group not in override_groups:
        return Problem(
            "bad-defaults",
            message,
            file=config_label(repo, f"env/{env}"),
            hint=f"a group the primary config already chooses is replaced with "
            f"`override /{group}: NAME` in the defaults list",
        )
    if file is None:
        # e.g. a config group given a number (env=3) or two values for one group
        return Problem("bad-override", message)
    if not found and override_groups:
        # Hydra placed it nowhere: in the defaults list it was expanding, or in a group choice
        # made on the command line; name both rather than guess.
        hint = f"or in the command line's choice of {', '.join(sorted(override_groups))}"
        return Problem("bad-defaults", message, file=file, hint=hint)
    return Problem("bad-defaults", message, file=file)


def _unreadable(repo: CachingConfigRepository, missing: str) -> Problem | None:
    """``missing`` (``env/case``) is there as ``env/case.yaml`` but is no file Hydra can read:
    a directory, or a symbolic link to nothing (or to itself)."""
    for source in repo.get_sources():
        path = os.path.join(source.path, f"{missing}.yaml")
        if not os.path.lexists(path) or os.path.isfile(path):
            continue
        if os.path.isdir(path):
            what = "a directory"
        elif os.path.islink(path):
            what = f"a symbolic link to {os.readlink(path)!r}, which is no file (or a loop)"
        else:  # a named pipe, a socket, a device: reading it could wait forever
            what = "not a regular file (a named pipe, a socket or a device)"
        return Problem(
            "unreadable-config",
            f"{missing}.yaml is {what}, so it cannot be read as a config file",
            key=missing.rpartition("/")[0] or None,
            file=file_label(path),
            hint="make it a YAML file (or a link to one)",
        )
    return None


def _wrong_extension(
    repo: CachingConfigRepository, missing: str, file: str | None
) -> Problem | None:
    """``missing`` (``env/canary``) written with another extension (``env/canary.yml``)."""
    found = [
        file_label(os.path.join(source.path, f"{missing}{ext}"))
        for source in repo.get_sources()
        for ext in (".yml", ".YAML", ".Yaml")
        if os.path.isfile(os.path.join(source.path, f"{missing}{ext}"))
    ]
    if not found:
        return None
    return Problem(
        "wrong-extension",
        f"{found[0]} is not read: config files end in .yaml",
        key=missing.rpartition("/")[0] or None,
        file=file,
        hint=f"rename it to {missing}.yaml",
    )


def missing_config_problem(e: MissingConfigException, repo: CachingConfigRepository) -> Problem:
    missing = e.missing_cfg_file or ""
    group, _, name = missing.rpartition("/")
    found = _PLACE.match(str(e).strip())
    parent = found.group(1) if found else None
    # A defaults list of the primary config only ever misses what the caller chose.
    file = config_label(repo, parent) if parent and parent != PRIMARY else None
    wrong = _wrong_extension(repo, missing, file) or _unreadable(repo, missing)
    if wrong is not None:
        return wrong
    if not group:
        return Problem("compose-failed", first_line(e), file=file)
    options = repo.get_group_options(group, results_filter=ObjectType.CONFIG)
    if group == ENV_GROUP:
        hint = did_you_mean(name, options) or ""
        return Problem(
            "unknown-env",
            f"there is no env {name!r}; known envs: {', '.join(options)}",
            key=ENV_GROUP,
            file=file,
            hint=(hint + " " if hint else "")
            + "a deployment adds its own env as env/NAME.yaml in a config dir",
        )
    return Problem(
        "unknown-option",
        f"config group {group!r} has no option {name!r}; options: {', '.join(options)}",
        key=group,
        file=file,
        hint=did_you_mean(name, options),
    )


# Mappings keyed by model id, whose ids may hold dots: a key path cannot name such an id.
_BY_ID = ("fallbacks", "models", "edge_policy")


def unknown_key_problem(
    override: Override, cfg: Any, top_keys: Collection[Any], where: str
) -> Problem:
    """An override of a key that does not exist: the closest key, or for a dotted model id the
    dict-literal form. Never Hydra's advice to add the key with `+`: the resolver refuses
    unknown keys, so adding one only moves the error."""
    key = override.key_or_group
    parts = key.split(".")
    known: Collection[Any] = top_keys or cfg.keys()
    at = 0
    for at, part in enumerate(parts):  # down to the first part that is not there
        if part not in known:
            break
        node = OmegaConf.select(cfg, ".".join(parts[: at + 1]))
        known = node.keys() if OmegaConf.is_dict(node) else ()
    # The closest key at that level, shown as the whole path to write.
    close = closest(parts[at], [str(k) for k in known])
    fixed = ".".join([*parts[:at], close or "", *parts[at + 1 :]])
    hint = f"did you mean {fixed!r}?" if close else None
    if not close and parts[0] in _BY_ID and len(parts) > 2:
        value = (override.input_line or "").partition("=")[2]
        model_id = ".".join(parts[1:-1] if parts[0] == "models" else parts[1:])
        inner = f"{{{parts[-1]}: {value}}}" if parts[0] == "models" else value
        hint = (
            "a model id with a dot cannot be part of a key path: write "
            f"'++{parts[0]}={{{model_id}: {inner}}}'"
        )
    elif not close and known:
        hint = f"known keys under {'.'.join(parts[:at]) or 'the top'}: " + ", ".join(
            sorted(str(k) for k in known)
        )
    return Problem(
        "unknown-key", f"there is no key {key!r} to override", key=key, file=where, hint=hint
    )


def override_message(e: BaseException) -> str:
    # Hydra wraps the useful OmegaConf message ("Key 'x' is not in struct") in its cause.
    parts = [first_line(e)]
    if e.__cause__ is not None:
        parts.append(first_line(e.__cause__))
    text = str(e)
    if "To append to your config use" in text:
        parts = [text.replace("\n", " ")]
    return ": ".join(dict.fromkeys(p for p in parts if p))


def first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
