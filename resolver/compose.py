"""Hydra composition: search path, defaults list, overrides, and where each key came from.

This is the only module (with ``origins``' callers) that touches Hydra and OmegaConf. It uses
Hydra's config repository, defaults-list and override machinery directly rather than
``hydra.initialize``/``compose``: those keep process-global state (``GlobalHydra``) that would
clash with an application already running Hydra, and they load Hydra's own job/launcher configs,
which the resolver never uses and which cost a third of a compose.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.config_repository import CachingConfigRepository, ConfigRepository
from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
from hydra._internal.core_plugins.file_config_source import FileConfigSource
from hydra._internal.defaults_list import create_defaults_list
from hydra._internal.sources_registry import SourcesRegistry
from hydra.core.object_type import ObjectType
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .catalog import mask_url
from .errors import ConfigError, Problem, did_you_mean

PRIMARY = "config"
ENV_GROUP = "env"

# Hydra's repository, parser and OmegaConf's resolver registry are shared process state;
# composing under one lock keeps concurrent loads from interleaving inside them.
_LOCK = threading.Lock()

KeyPath = tuple[str | int, ...]


def shipped_config_dir() -> Path:
    """The configuration tree shipped with the package."""
    package = Path(__file__).resolve().parent
    installed = package / "conf"  # a wheel install: conf/ is packaged as resolver/conf
    return installed if installed.is_dir() else package.parent / "conf"  # a source checkout


@dataclass(frozen=True, slots=True)
class Layer:
    """One contribution to the composed config: a file or a command-line override."""

    label: str
    data: Any  # an OmegaConf node embedded at its package, or an override's plain value
    key: KeyPath = ()


class Origins:
    """Which file or override set each key, computed only when someone asks."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self._layers = layers
        self._maps: dict[KeyPath, dict[KeyPath, str]] = {}

    def of(self, path: KeyPath, *, within: KeyPath = ()) -> str | None:
        """The layer that set ``path`` (or, for a key no layer set, its nearest parent).

        ``within`` limits the work to one subtree (e.g. ``("fallbacks",)``) when only keys under
        it will be asked for; a large catalog then is not walked for a handful of edges.
        """
        origin = self._maps.get(within)
        if origin is None:
            origin = self._maps[within] = self._build(within)
        for end in range(len(path), -1, -1):
            label = origin.get(path[:end])
            if label is not None:
                return label
        return None

    def _build(self, within: KeyPath) -> dict[KeyPath, str]:
        origin: dict[KeyPath, str] = {}
        for layer in self._layers:
            data, key = layer.data, layer.key
            if key[: len(within)] != within:  # the layer sits above the subtree: descend
                if within[: len(key)] != key:
                    continue
                for part in within[len(key) :]:
                    data = data.get(part) if isinstance(data, dict | DictConfig) else None
                key = within
            if OmegaConf.is_config(data):
                data = OmegaConf.to_container(data, resolve=False)
            for path, is_leaf in _walk(data, key):
                # A mapping is declared by its first layer; a value belongs to its last writer.
                if is_leaf:
                    origin[path] = layer.label
                else:
                    origin.setdefault(path, layer.label)
        return origin


def _walk(data: Any, path: KeyPath) -> Iterator[tuple[KeyPath, bool]]:
    if data is None:
        return
    if isinstance(data, dict):
        if path:
            yield path, False
        for key, value in data.items():
            yield from _walk(value, (*path, str(key)))
    else:
        yield path, True


@dataclass(frozen=True, slots=True)
class Composed:
    data: dict[str, Any]
    env: str | None
    choices: dict[str, Any]
    search_path: tuple[str, ...]
    origins: Origins
    problems: tuple[Problem, ...] = ()
    """Overrides Hydra rejected; they were left out of ``data``."""


def compose(
    *,
    env: str | None,
    overrides: Sequence[str],
    config_dirs: Sequence[str | Path],
    config_path: str | Path | None,
) -> Composed:
    """Compose the primary config with its defaults, env overlay and overrides.

    Raises :class:`ConfigError` naming every missing directory and malformed override at once,
    or the single composition failure (unknown env, malformed YAML, an override Hydra rejects).
    """
    problems: list[Problem] = []
    roots = _search_roots(config_dirs, config_path, problems)
    parsed = _parse_overrides(overrides, problems)
    if env is not None:
        parsed += _parse_overrides([f"{ENV_GROUP}={env}"], problems, origin="env")
    if problems:
        raise ConfigError(problems, env=env)
    with _LOCK:
        return _compose_locked(roots, parsed, env)


def _search_roots(
    config_dirs: Sequence[str | Path], config_path: str | Path | None, problems: list[Problem]
) -> list[tuple[str, Path]]:
    # Deployment dirs come first: a file there shadows the shipped file of the same name.
    named = [(f"config_dirs[{i}]", Path(d)) for i, d in enumerate(config_dirs)]
    named.append(
        ("config_path", Path(config_path))
        if config_path is not None
        else ("shipped", shipped_config_dir())
    )
    for name, root in named:
        if not root.is_dir():
            problems.append(
                Problem(
                    "missing-config-dir",
                    f"{str(root)!r} is not a directory",
                    key=name,
                    hint="pass an existing config directory (relative paths are resolved "
                    f"from {Path.cwd()})",
                )
            )
    replaced = Path(config_path) if config_path is not None else None
    if replaced is not None and replaced.is_dir() and not (replaced / f"{PRIMARY}.yaml").is_file():
        problems.append(
            Problem(
                "missing-primary-config",
                f"{str(config_path)!r} has no {PRIMARY}.yaml",
                key="config_path",
                hint="config_path replaces the shipped tree and needs its own "
                f"{PRIMARY}.yaml; to add groups to the shipped tree use config_dirs",
            )
        )
    return [(name, root.resolve()) for name, root in named]


def _parse_overrides(
    overrides: Sequence[str], problems: list[Problem], *, origin: str = "override"
) -> list[Override]:
    parser = OverridesParser.create()
    parsed: list[Override] = []
    for line in overrides:
        where = mask_url(f"{origin} {line!r}")  # labels end up in errors and show --info
        try:
            (override,) = parser.parse_overrides([line])
        except HydraException as e:
            problems.append(
                Problem(
                    "malformed-override",
                    _first_line(e),
                    file=where,
                    hint="overrides look like key=value, +key=value, ++key=value or ~key; "
                    "a model id with a dot needs a dict literal: "
                    "'++fallbacks={kimi-k2.5-syn: [kimi-k2-instruct]}'",
                )
            )
            continue
        if not override.key_or_group:
            problems.append(
                Problem(
                    "malformed-override",
                    "the override names no key",
                    file=where,
                    hint="write key=value, e.g. policy.max_depth=3",
                )
            )
        elif override.is_hydra_override():
            problems.append(
                Problem(
                    "malformed-override",
                    "Hydra's own settings (hydra.*) are not used by the resolver",
                    file=where,
                    hint="add a config tree with config_dirs / --config-dir instead of "
                    "hydra.searchpath",
                )
            )
        elif override.is_sweep_override():
            problems.append(
                Problem(
                    "malformed-override",
                    "a sweep (several values) cannot configure one resolver",
                    file=where,
                    hint="quote a list value: key='[a,b]'",
                )
            )
        else:
            parsed.append(override)
    return parsed


def _compose_locked(
    roots: list[tuple[str, Path]], parsed: list[Override], env: str | None
) -> Composed:
    SourcesRegistry.instance().register(FileConfigSource)
    search_path = ConfigSearchPathImpl()
    for name, root in roots:
        search_path.append(name, f"file://{root}")
    repo = CachingConfigRepository(ConfigRepository(config_search_path=search_path))

    try:
        defaults = create_defaults_list(
            repo=repo,
            config_name=PRIMARY,
            overrides_list=parsed,
            prepend_hydra=False,
            skip_missing=False,
        )
    except yaml.YAMLError:
        raise ConfigError(_yaml_problems(roots), env=env) from None
    except MissingConfigException as e:
        raise ConfigError([_missing_config_problem(e, repo)], env=env) from None
    except (HydraException, ValueError) as e:
        # e.g. a config group given a number (env=3) or two values for one group
        raise ConfigError([Problem("bad-override", _first_line(e))], env=env) from None

    env = defaults.overrides.known_choices.get(ENV_GROUP, env)  # the default env has a name now
    cfg = OmegaConf.create()
    layers: list[Layer] = []
    for default in defaults.defaults:
        assert default.config_path is not None
        loaded = repo.load_config(default.config_path)
        assert loaded is not None
        embedded = ConfigLoaderImpl._embed_result_config(loaded, default.package).config
        label = _file_label(loaded.path, default.config_path)
        try:
            cfg.merge_with(embedded)
        except OmegaConfBaseException as e:
            raise ConfigError(
                [Problem("compose-failed", _first_line(e), file=label)], env=env
            ) from None
        layers.append(Layer(label, embedded))

    # As Hydra does: the composed tree is closed, so a new key needs + and a typo fails here.
    OmegaConf.set_struct(cfg, True)
    problems: list[Problem] = []
    for override in defaults.config_overrides:
        where = mask_url(f"override {override.input_line!r}")
        try:
            ConfigLoaderImpl._apply_overrides_to_config([override], cfg)
        except (HydraException, OmegaConfBaseException) as e:
            problems.append(
                Problem(
                    "bad-override",
                    _override_message(e),
                    key=override.key_or_group,
                    file=where,
                )
            )
            continue
        if not override.is_delete():
            layers.append(Layer(where, override.value(), tuple(override.key_or_group.split("."))))
    # A rejected override is left out and composition goes on, so that validation can report
    # the rest of the configuration's problems in the same pass.

    try:
        data = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None)
        raise ConfigError(
            [Problem("bad-interpolation", _first_line(e), key=key or None)], env=env
        ) from None
    assert isinstance(data, dict)
    choices = dict(defaults.overrides.known_choices)
    return Composed(
        data={str(k): v for k, v in data.items()},
        env=choices.get(ENV_GROUP),
        choices=choices,
        search_path=tuple(str(root) for _, root in roots),
        origins=Origins(layers),
        problems=tuple(problems),
    )


def _file_label(source_path: str | None, config_path: str) -> str:
    root = (source_path or "").removeprefix("file://")
    path = Path(root) / f"{config_path}.yaml"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _yaml_problems(roots: list[tuple[str, Path]]) -> list[Problem]:
    """Every malformed YAML file under the search path, not only the first Hydra met."""
    problems = []
    for _, root in roots:
        for path in sorted(root.rglob("*.yaml")):
            try:
                yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as e:
                mark = getattr(e, "problem_mark", None)
                line = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
                problem = getattr(e, "problem", None) or str(e).splitlines()[0]
                problems.append(
                    Problem(
                        "malformed-yaml",
                        f"not valid YAML{line}: {problem}",
                        file=_file_label(f"file://{root}", str(path.relative_to(root))[:-5]),
                        hint="check indentation, closing brackets and quotes around values "
                        "that contain ': '",
                    )
                )
    return problems


def _missing_config_problem(e: MissingConfigException, repo: CachingConfigRepository) -> Problem:
    missing = e.missing_cfg_file or ""
    group, _, name = missing.rpartition("/")
    if group == ENV_GROUP:
        options = repo.get_group_options(ENV_GROUP, results_filter=ObjectType.CONFIG)
        hint = did_you_mean(name, options) or ""
        return Problem(
            "unknown-env",
            f"there is no env {name!r}; known envs: {', '.join(options)}",
            key=ENV_GROUP,
            hint=(hint + " " if hint else "")
            + "a deployment adds its own env as env/NAME.yaml in a config dir",
        )
    if group:
        options = repo.get_group_options(group, results_filter=ObjectType.CONFIG)
        return Problem(
            "unknown-option",
            f"config group {group!r} has no option {name!r}; options: {', '.join(options)}",
            key=group,
            hint=did_you_mean(name, options),
        )
    return Problem("compose-failed", _first_line(e))


def _override_message(e: BaseException) -> str:
    # Hydra wraps the useful OmegaConf message ("Key 'x' is not in struct") in its cause.
    parts = [_first_line(e)]
    if e.__cause__ is not None:
        parts.append(_first_line(e.__cause__))
    text = str(e)
    if "To append to your config use" in text:
        parts = [text.replace("\n", " ")]
    return ": ".join(dict.fromkeys(p for p in parts if p))


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
