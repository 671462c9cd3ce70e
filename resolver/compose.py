"""Hydra composition: search path, defaults list, overrides, and where each key came from.

This is the only module (with ``origins``' callers) that touches Hydra and OmegaConf. It uses
Hydra's config repository, defaults-list and override machinery directly rather than
``hydra.initialize``/``compose``: those keep process-global state (``GlobalHydra``) that would
clash with an application already running Hydra, and they load Hydra's own job/launcher configs,
which the resolver never uses and which cost a third of a compose.

Hydra decides *which* files are composed, in which order and at which package (the defaults
list, ``# @package`` headers, group overrides); the files' contents are then merged here as
plain dicts. Hydra's own path builds an OmegaConf node per value and deep-copies every tree on
the way (file -> package -> merge), which at 10,000 models took 16 s against 1 s for parsing
the same files with PyYAML's C loader. The merge follows OmegaConf's rules (see
:func:`_merge`); a file OmegaConf would treat differently from plain data (a ``defaults``
list, a value type beyond YAML's plain ones) goes through Hydra's own loader, and the merged
tree only becomes OmegaConf when something needs it: overrides or interpolations.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Sequence
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
from hydra.plugins.config_source import ConfigResult, ConfigSource
from omegaconf import OmegaConf
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
    data: Any  # a file's plain data embedded at its package, or an override's plain value
    key: KeyPath = ()


class Origins:
    """Which file or override set each key, worked out only for the keys someone asks about.

    Asked key by key rather than mapped up front: validation asks about one key per problem,
    and a map of every key of a 10,000-model catalog cost more time and memory than that.
    """

    def __init__(self, layers: Sequence[Layer]) -> None:
        self._layers = layers

    def of(self, path: KeyPath) -> str | None:
        """The layer that set ``path`` (or, for a key no layer set, its nearest parent)."""
        for end in range(len(path), 0, -1):
            label = self._label(path[:end])
            if label is not None:
                return label
        return None

    def _label(self, path: KeyPath) -> str | None:
        # A mapping is declared by its first layer; a value belongs to its last writer.
        label = None
        for layer in self._layers:
            if path[: len(layer.key)] != layer.key:
                continue  # the layer sets another subtree
            data: Any = layer.data
            for part in path[len(layer.key) :]:
                if not isinstance(data, dict) or part not in data:
                    data = None
                    break
                data = data[part]
            if data is None:
                continue  # nothing here, or a null, which sets no key
            if not isinstance(data, dict) or label is None:
                label = layer.label
        return label


@functools.cache
def yaml_loader() -> type:
    """OmegaConf's YAML loader (its float resolver, no timestamps, duplicate keys refused) on
    PyYAML's C parser when libyaml is there: the same values, parsed five to ten times faster."""
    from omegaconf._utils import get_yaml_loader

    base: type = get_yaml_loader()
    if not getattr(yaml, "__with_libyaml__", False):
        return base

    parser: type = yaml.cyaml.CParser  # type: ignore[attr-defined]

    class CLoader(parser, base):  # type: ignore[misc]
        # CParser comes first: its scanning/parsing/composing replace the pure-Python ones,
        # while construction and tag resolution stay OmegaConf's.
        def __init__(self, stream: str) -> None:
            parser.__init__(self, stream)  # type: ignore[misc]
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    return CLoader


@dataclass
class _PlainResult(ConfigResult):
    plain: dict[Any, Any] | None = None
    interpolates: bool = False


class _PlainSource(FileConfigSource):
    """``file://`` configs parsed once into plain containers instead of OmegaConf nodes.

    Hydra only needs a config's header and ``defaults`` list to build the defaults list, so
    the result it sees carries a stand-in config (content or not, which Hydra checks) and the
    data rides along in ``plain``. Files with a ``defaults`` list or values outside YAML's plain
    types are loaded by Hydra's own source, unchanged.
    """

    def load_config(self, config_path: str) -> ConfigResult:
        full_path = os.path.realpath(
            os.path.join(self.path, self._normalize_file_name(config_path))
        )
        if not os.path.isfile(full_path):
            return super().load_config(config_path)  # Hydra's own "not found" error
        label = _file_label(f"file://{self.path}", config_path)
        try:
            with open(full_path, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError as e:
            message = f"not UTF-8 text: byte {e.object[e.start]:#04x} at {e.start}"
            raise _refused(label, message) from None
        data = yaml.load(text, Loader=yaml_loader())
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise _refused(label, f"the top level is {type(data).__name__}, not a mapping")
        scanned = _scan(data) if "defaults" not in data else None
        if scanned is None:
            _refuse_null_keys(data, label)
            return super().load_config(config_path)
        return _PlainResult(
            provider=self.provider,
            path=f"{self.scheme()}://{self.path}",
            config=OmegaConf.create({"_": None} if _has_content(data) else {}),
            header=ConfigSource._get_header_dict(text[:512]),  # as Hydra reads the header
            plain=data,
            interpolates=scanned,
        )


_MISSING = "???"  # OmegaConf's missing value


def _has_content(data: dict[Any, Any]) -> bool:
    return any(value != _MISSING for value in data.values())


_KEY_TYPES = (str, int, float)  # bool is an int
_LEAF_TYPES = (str, int, float, type(None))


def _scan(data: Any) -> bool | None:
    """Whether ``data`` has interpolations (``${...}``); None when it holds anything but plain
    mappings, lists and scalars, which OmegaConf would type (or refuse) its own way."""
    found = False
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if not all(isinstance(k, _KEY_TYPES) for k in node):
                return None
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            found = found or "${" in node
        elif not isinstance(node, _LEAF_TYPES):
            return None
    return found


def _refused(
    label: str, message: str, *, code: str = "bad-file", hint: str | None = None
) -> ConfigError:
    """A file Hydra or OmegaConf would fail on without naming it, refused with its name."""
    return ConfigError([Problem(code, message, file=label, hint=hint)])


def _refuse_null_keys(data: Any, label: str) -> None:
    """A key YAML reads as null (`~:`, an empty key) makes OmegaConf fail without saying
    where: name the file and the mapping that holds it instead."""
    stack: list[tuple[KeyPath, Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            if None in node:
                where = ".".join(map(str, path)) or "the top level"
                raise _refused(
                    label,
                    f"a key under {where} is null (`~` or an empty key)",
                    code="bad-key",
                    hint="write the key as text; quote it if it is meant as '~'",
                )
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))


class _MergeError(Exception):
    pass


def _merge(dest: dict[Any, Any], src: dict[Any, Any], owned: set[int]) -> None:
    """Merge ``src`` into ``dest`` as OmegaConf's ``merge_with`` does; ``src`` is not changed.

    Mappings merge key by key, anything else replaces, a missing value (``???``) does not
    replace a set one, and a mapping against a list is an error. Subtrees are shared with the
    files they come from, and a mapping is copied (one level) only when a later file merges
    into it: ``owned`` holds the ids of the mappings ``dest`` may change. The files' own data
    must stay as read, since the origins are worked out from it; a catalog is not copied
    whole for the few keys an env overlay changes.
    """
    for key, value in src.items():
        if key in dest:
            old = dest[key]
            if isinstance(value, dict) and isinstance(old, dict):
                if id(old) not in owned:
                    old = dest[key] = dict(old)
                    owned.add(id(old))
                _merge(old, value, owned)
                continue
            if isinstance(value, str) and value == _MISSING:
                continue
            if (isinstance(value, dict) and isinstance(old, list)) or (
                isinstance(value, list) and isinstance(old, dict)
            ):
                raise _MergeError(f"Cannot merge a mapping with a list at key {key!r}")
        dest[key] = value


def _embed(data: dict[Any, Any], package: str | None) -> dict[Any, Any]:
    """``data`` nested at ``package`` (``a.b``), as Hydra embeds a config at its package."""
    for part in reversed(package.split(".") if package else ()):
        data = {part: data}
    return data


@dataclass(frozen=True, slots=True)
class Composed:
    """The composed configuration. ``data`` shares subtrees with the files' data that
    ``origins`` reads: treat it as read-only."""

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
    plain_repo = ConfigRepository(config_search_path=search_path)
    # Swapped in on this repository only: the registry is process-wide, and an application's
    # own Hydra must keep getting Hydra's source.
    plain_repo.sources = [_PlainSource(s.provider, s.path) for s in plain_repo.sources]
    repo = CachingConfigRepository(plain_repo)

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
        raise ConfigError([_missing_config_problem(e, repo, roots)], env=env) from None
    except (HydraException, ValueError) as e:
        # e.g. a config group given a number (env=3) or two values for one group
        raise ConfigError([_defaults_problem(e, roots)], env=env) from None
    except (AssertionError, RecursionError) as e:
        # Hydra's own asserts (`override` followed by a plain entry) and a defaults list that
        # includes itself end here, naming nothing: point at the env's file, where a
        # deployment writes its defaults list.
        raise ConfigError([_defaults_loop_problem(e, roots, env)], env=env) from None

    env = defaults.overrides.known_choices.get(ENV_GROUP, env)  # the default env has a name now
    merged: dict[Any, Any] = {}
    owned = {id(merged)}
    layers: list[Layer] = []
    interpolates_any = False
    for default in defaults.defaults:
        assert default.config_path is not None
        loaded = repo.load_config(default.config_path)
        assert loaded is not None
        if isinstance(loaded, _PlainResult) and loaded.plain is not None:
            data, interpolates = loaded.plain, loaded.interpolates
        else:
            container = OmegaConf.to_container(loaded.config, resolve=False)
            assert isinstance(container, dict)  # Hydra refuses a config that is no mapping
            data = container
            scanned = _scan(data)
            interpolates = scanned is None or scanned
        interpolates_any = interpolates_any or interpolates
        embedded = _embed(data, default.package)
        label = _file_label(loaded.path, default.config_path)
        try:
            _merge(merged, embedded, owned)
        except _MergeError as e:
            raise ConfigError([Problem("compose-failed", str(e), file=label)], env=env) from None
        layers.append(Layer(label, embedded))

    overrides = defaults.config_overrides
    problems: list[Problem] = []
    if interpolates_any or any("${" in (o.input_line or "") for o in overrides):
        # An interpolation may point anywhere in the tree: resolve the whole of it.
        data = _apply_with_omegaconf(merged, overrides, layers, env, problems)
    elif overrides:
        data = _apply_to_touched(merged, overrides, layers, env, problems)
    else:
        data = merged
    choices = dict(defaults.overrides.known_choices)
    return Composed(
        data={str(k): v for k, v in data.items()},
        env=choices.get(ENV_GROUP),
        choices=choices,
        search_path=tuple(str(root) for _, root in roots),
        origins=Origins(layers),
        problems=tuple(problems),
    )


def _apply_to_touched(
    merged: dict[Any, Any],
    overrides: Sequence[Override],
    layers: list[Layer],
    env: str | None,
    problems: list[Problem],
) -> dict[Any, Any]:
    """``merged`` with ``overrides`` applied by OmegaConf to the top-level keys they name only.

    An override reaches no further than its top-level key (without interpolations, checked by
    the caller), so ``policy.max_depth=1`` or ``++models={...}`` need not turn a 10,000-model
    ``providers`` tree into OmegaConf nodes. The keys the overrides name that exist go into
    the tree, so struct mode still refuses a typo and ``+`` on an existing key as before.
    """
    touched = {_KEY_HEAD.split(o.key_or_group, maxsplit=1)[0] for o in overrides}
    part = _apply_with_omegaconf(
        {k: v for k, v in merged.items() if k in touched}, overrides, layers, env, problems
    )
    data = {
        k: part[k] if k in touched else v
        for k, v in merged.items()
        if k in part or k not in touched
    }
    data.update((k, v) for k, v in part.items() if k not in merged)  # added with +key=...
    return data


_KEY_HEAD = re.compile(r"[.\[]")


def _apply_with_omegaconf(
    merged: dict[Any, Any],
    overrides: Sequence[Override],
    layers: list[Layer],
    env: str | None,
    problems: list[Problem],
) -> dict[Any, Any]:
    """The merged tree with ``overrides`` applied and interpolations resolved, by OmegaConf.
    An override OmegaConf rejects is added to ``problems`` and left out."""
    cfg = OmegaConf.create(merged)
    # As Hydra does: the composed tree is closed, so a new key needs + and a typo fails here.
    OmegaConf.set_struct(cfg, True)
    for override in overrides:
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
    return data


@functools.cache
def _shipped_root() -> Path:
    return shipped_config_dir().resolve()


def _file_label(source_path: str | None, config_path: str) -> str:
    root = (source_path or "").removeprefix("file://")
    if Path(root) == _shipped_root():
        # The same label from a wheel (site-packages/resolver/conf) as from a checkout, and
        # wherever the command runs: the shipped tree is `conf/`.
        return f"conf/{config_path}.yaml"
    path = Path(root) / f"{config_path}.yaml"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _yaml_problems(roots: list[tuple[str, Path]]) -> list[Problem]:
    """Every malformed YAML file under the search path, not only the first Hydra met."""
    from omegaconf._utils import get_yaml_loader

    problems = []
    for _, root in roots:
        for path in sorted(root.rglob("*.yaml")):
            try:
                # The loader that failed: Hydra's own, which refuses what libyaml lets through
                # (a tab after a key), so that the failure is found again and named.
                yaml.load(path.read_text(encoding="utf-8"), Loader=get_yaml_loader())
            except UnicodeDecodeError:
                continue  # not what failed: a composed file that is not UTF-8 is named on load
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


# Hydra names the config whose defaults list it refuses: "Duplicate _self_ defined in env/x".
_NAMED_CONFIG = re.compile(r"\b[Ii]n '?([\w.-]+(?:/[\w.-]+)*)'?")


def _defaults_problem(
    e: BaseException, roots: list[tuple[str, Path]], *, code: str = "bad-defaults"
) -> Problem:
    """A defaults-list failure, at the file Hydra names when it names one in the search path,
    else at the defaults list (or the overrides that chose it)."""
    for name in _NAMED_CONFIG.findall(str(e)):
        for _, root in roots:
            if (root / f"{name}.yaml").is_file():
                label = _file_label(f"file://{root}", name)
                return Problem(code, _first_line(e), file=label)
    return Problem("bad-override", _first_line(e), key="defaults list or group overrides")


def _defaults_loop_problem(
    e: BaseException, roots: list[tuple[str, Path]], env: str | None
) -> Problem:
    what = (
        "a defaults list includes itself, directly or through the configs it includes"
        if isinstance(e, RecursionError)
        else "Hydra cannot build the defaults list: an `override` entry must come after "
        "every plain entry"
    )
    name = f"{ENV_GROUP}/{env}" if env else PRIMARY
    for _, root in roots:
        if (root / f"{name}.yaml").is_file():
            label = _file_label(f"file://{root}", name)
            return Problem(
                "bad-defaults", f"{what} (in {label} or a config it includes)", file=label
            )
    return Problem("bad-defaults", what, key="defaults list")


def _missing_config_problem(
    e: MissingConfigException, repo: CachingConfigRepository, roots: list[tuple[str, Path]]
) -> Problem:
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
    return _defaults_problem(e, roots, code="compose-failed")


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
