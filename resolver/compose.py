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
import traceback
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import yaml
from hydra.core.default_element import ResultDefault
from hydra.core.object_type import ObjectType
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException, MissingConfigException
from hydra.plugins.config_source import ConfigResult
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import _hydra
from ._hydra import (
    CachingConfigRepository,
    ConfigRepository,
    ConfigSearchPathImpl,
    FileConfigSource,
)
from .catalog import mask_url
from .errors import ConfigError, Problem, did_you_mean

PRIMARY = "config"
ENV_GROUP = "env"
ENV_WITHOUT_HEADER = "env-without-header"

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
    interpolates: bool = False  # whether ``data`` holds an interpolation (``${...}``)


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
        # A mapping is declared by its first layer; a value (a null too) belongs to its last
        # writer.
        label = None
        for layer in self._layers:
            if path[: len(layer.key)] != layer.key:
                continue  # the layer sets another subtree
            data: Any = layer.data
            for part in path[len(layer.key) :]:
                if not isinstance(data, dict) or part not in data:
                    data = _ABSENT
                    break
                data = data[part]
            if data is _ABSENT:
                continue
            if not isinstance(data, dict) or label is None:
                label = layer.label
        return label

    def set_by(self, path: KeyPath) -> str | None:
        """The layer that set ``path`` itself, None when none did (not its parents')."""
        return self._label(path)


_ABSENT = object()


@functools.cache
def yaml_loader() -> type:
    """OmegaConf's YAML loader (its float resolver, no timestamps, duplicate keys refused) on
    PyYAML's C parser when libyaml is there: the same values, parsed five to ten times faster.
    OmegaConf 2.4's own loader is built on the C parser already, and is used as it is."""
    base: type = _omegaconf_loader()
    parser: type | None = getattr(yaml, "CParser", None)
    if parser is None or issubclass(base, parser):
        return base

    class CLoader(parser, base):  # type: ignore[misc,valid-type]
        # CParser comes first: its scanning/parsing/composing replace the pure-Python ones,
        # while construction and tag resolution stay OmegaConf's.
        def __init__(self, stream: str) -> None:
            parser.__init__(self, stream)  # type: ignore[misc]
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    return CLoader


@functools.cache
def _omegaconf_loader() -> type:
    return _hydra.yaml_loader_base()


# libyaml is more lenient than PyYAML's own scanner, which OmegaConf 2.3 (and so Hydra 1.3)
# uses: it accepts a tab after a value and reads some non-ASCII line breaks and characters its
# own way. A text with a tab or any non-ASCII character goes through OmegaConf's own loader,
# so every file of a composition is held to Hydra's rule, whichever path (ours or Hydra's)
# reads it.
_PYTHON_ONLY = re.compile(r"[^\x00-\x08\x0a-\x7f]")


def parse_yaml(text: str) -> Any:
    """``text`` parsed exactly as Hydra parses a config file (raises ``yaml.YAMLError``)."""
    loader = _omegaconf_loader() if _PYTHON_ONLY.search(text) else yaml_loader()
    return yaml.load(text, Loader=loader)


class _FileProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def read_config_file(path: str, label: str) -> tuple[str, Any]:
    """A config file's text and data; a file that is not UTF-8 text, not YAML, or not a mapping
    raises :class:`_FileProblem` naming ``label``."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise _FileProblem(
            Problem(
                "not-utf8",
                f"not UTF-8 text: byte {e.object[e.start]:#04x} at offset {e.start}",
                file=label,
                hint="save the file as UTF-8",
            )
        ) from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise _FileProblem(
            Problem(
                "malformed-yaml",
                f"not valid YAML{line}: {problem}",
                file=label,
                hint="check indentation, closing brackets, quotes around values that contain "
                "': ', and tabs (YAML indents and separates with spaces only)",
            )
        ) from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise _FileProblem(
            Problem(
                "not-a-mapping",
                f"the file holds {_kind_of(data)}, where a config file is a mapping of keys",
                file=label,
                hint="write `key: value` lines at the top level",
            )
        )
    return text, data


def _kind_of(data: Any) -> str:
    return "a list" if isinstance(data, list) else f"a single value ({type(data).__name__})"


@dataclass
class _PlainResult(ConfigResult):
    plain: dict[Any, Any] | None = None
    interpolates: bool = False


class _PlainSource(FileConfigSource):
    """``file://`` configs parsed once into plain containers instead of OmegaConf nodes.

    Hydra only needs a config's header and ``defaults`` list to build the defaults list, so
    the result it sees carries a stand-in config (content or not, which Hydra checks) and the
    data rides along in ``plain``. Files with a ``defaults`` list or values outside YAML's plain
    types are loaded by Hydra's own source, unchanged. A file that cannot be read is noted in
    ``problems`` and stands in as empty, so that one pass finds every unreadable file composed
    (and reads no file that is not).
    """

    def __init__(self, provider: str, path: str, problems: list[Problem]) -> None:
        super().__init__(provider, path)
        self.problems = problems

    def load_config(self, config_path: str) -> ConfigResult:
        name = _hydra.config_file_name(config_path)
        full_path = os.path.realpath(os.path.join(self.path, name))
        if not os.path.isfile(full_path):
            return super().load_config(config_path)  # Hydra's own "not found" error
        label = _file_label(os.path.join(self.path, name))
        try:
            text, data = read_config_file(full_path, label)
            header = _hydra.read_header(text[:512])  # as Hydra reads the header
        except _FileProblem as e:
            self.problems.append(e.problem)
            text, data, header = "", {}, {"package": None}
        except ValueError as e:  # a `# @...` line that is not `# @package NAME`
            self.problems.append(
                Problem(
                    "bad-header",
                    str(e),
                    file=label,
                    hint="the only header line is `# @package _global_` (or another package)",
                )
            )
            text, data, header = "", {}, {"package": None}
        scanned = _scan(data) if "defaults" not in data else None
        if scanned is None:
            return super().load_config(config_path)
        return _PlainResult(
            provider=self.provider,
            path=f"{self.scheme()}://{self.path}",
            config=OmegaConf.create({"_": None} if _has_content(data) else {}),
            header=header,
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


class _MergeError(Exception):
    pass


class _IntoInterpolation(Exception):
    """A file merges a mapping, a list or ``???`` into a key whose value is an interpolation."""


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
            if (
                isinstance(old, str)
                and "${" in old
                and (isinstance(value, dict | list) or value == _MISSING)
            ):
                raise _IntoInterpolation
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
    config_dirs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    config_path: str | os.PathLike[str] | None,
) -> Composed:
    """Compose the primary config with its defaults, env overlay and overrides.

    ``config_dirs`` is a list of directories or a single one. Raises :class:`ConfigError`
    naming every bad directory, env name and malformed override at once, or what stopped the
    composition (an unknown env, unreadable files, a defaults-list mistake).
    """
    problems: list[Problem] = []
    if isinstance(config_dirs, str | os.PathLike):
        config_dirs = [config_dirs]
    roots = _search_roots(config_dirs, config_path, problems)
    parsed = _parse_overrides(overrides, problems)
    if env is not None:
        if _plain_name(env):
            parsed += _parse_overrides([f"{ENV_GROUP}={env}"], problems, origin="env")
        else:
            problems.append(
                Problem(
                    "bad-env-name",
                    f"{env!r} is not an env name",
                    key=ENV_GROUP,
                    hint="an env is named by its file env/NAME.yaml in a config dir: give "
                    "NAME alone, without a path or '..'",
                )
            )
    if problems:
        raise ConfigError(problems, env=env)
    with _LOCK, _hydra.pinned_version_base(PINNED_VERSION_BASE):
        return _compose_locked(roots, parsed, env)


def _plain_name(name: str) -> bool:
    """Whether ``name`` names an option of a group, not a path that leaves it."""
    return bool(name) and name.strip() == name and not re.search(r"[/\\]|^\.\.?$", name)


# Hydra reads some defaults-list and package-header rules (``# @package _group_`` above all)
# from a process-wide "version base", which an application's own ``hydra.initialize`` sets and
# which defaults to 1.1's rules when nobody set it. Composition pins the rules of the Hydra it
# runs on (1.3, as ``version_base="1.3"``): the same files give the same result whatever the
# host process did with Hydra. The host's setting is restored afterwards.
PINNED_VERSION_BASE = "1.3"


def _search_roots(
    config_dirs: Sequence[str | os.PathLike[str]],
    config_path: str | os.PathLike[str] | None,
    problems: list[Problem],
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
        elif root.resolve() == Path(root.resolve().anchor):
            # Every folder of the disk would be searched as a config group.
            problems.append(
                Problem(
                    "bad-config-dir",
                    f"{str(root)!r} is the root of the filesystem, not a config directory",
                    key=name,
                    hint="pass the directory that holds your env/, providers/ ... folders",
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


class _Repo(CachingConfigRepository):
    """Hydra's caching repository over :class:`_PlainSource`, noting which config it was asked
    for last: a defaults-list failure Hydra does not place (an assertion, a recursion) is in
    the file being expanded."""

    def __init__(self, search_path: ConfigSearchPathImpl, problems: list[Problem]) -> None:
        plain_repo = ConfigRepository(config_search_path=search_path)
        # Swapped in on this repository only: the registry is process-wide, and an
        # application's own Hydra must keep getting Hydra's source.
        plain_repo.sources = [
            _PlainSource(s.provider, s.path, problems) for s in plain_repo.sources
        ]
        super().__init__(plain_repo)
        for source in self.get_sources():  # the delegate is a deep copy of plain_repo
            if isinstance(source, _PlainSource):
                source.problems = problems
        self.asked: str | None = None

    def load_config(self, config_path: str) -> ConfigResult | None:
        self.asked = config_path
        return super().load_config(config_path)

    def label(self, config_path: str) -> str:
        return _config_label(self, config_path)


def _config_label(repo: CachingConfigRepository, config_path: str) -> str:
    """The file a config path (``env/prod``) names, as problems show it."""
    config_path = config_path.lstrip("/")
    name = _hydra.config_file_name(config_path)
    for source in repo.get_sources():
        if source.is_config(config_path):
            return _file_label(os.path.join(source.path, name))
    return name


def _search_path(roots: list[tuple[str, Path]]) -> ConfigSearchPathImpl:
    return _hydra.search_path([(name, f"file://{root}") for name, root in roots])


def _compose_locked(
    roots: list[tuple[str, Path]], parsed: list[Override], env: str | None
) -> Composed:
    search_path = _search_path(roots)
    file_problems: list[Problem] = []
    repo = _Repo(search_path, file_problems)
    bad_choices = _group_paths(parsed, repo)
    if bad_choices:
        raise ConfigError(bad_choices, env=env)
    failure: Problem | None = None
    try:
        defaults = _hydra.defaults_list(repo, PRIMARY, parsed)
    except MissingConfigException as e:
        failure = _missing_config_problem(e, repo)
    except (HydraException, OmegaConfBaseException, ValueError, AssertionError) as e:
        failure = _defaults_problem(e, repo, repo.asked)
    except RecursionError:
        failure = Problem(
            "defaults-cycle",
            "the defaults list leads back to this file (itself, or through other files)",
            file=repo.label(repo.asked) if repo.asked else None,
            hint="remove the defaults entry that includes this file again",
        )
    if file_problems or failure:
        # A file that could not be read stood in as empty: what failed after it may be its
        # consequence, so the files' own problems are the ones to fix first.
        raise ConfigError(file_problems or [failure] if failure else file_problems, env=env)

    env = defaults.overrides.known_choices.get(ENV_GROUP, env)  # the default env has a name now
    layers, merged = _merge_files(defaults.defaults, repo, env)
    whole_tree = merged is None or any(
        "${" in (o.input_line or "") for o in defaults.config_overrides
    )
    if merged is None:
        merged = _merge_with_hydra(defaults.defaults, search_path, repo, env)
    merged.pop("hydra", None)  # Hydra's own settings, which hydra.compose leaves out too
    sites = (
        _interpolations(merged) if whole_tree or any(layer.interpolates for layer in layers) else []
    )
    whole_tree = whole_tree or not all(_SELF_CONTAINED.fullmatch(text) for _, text in sites)

    overrides = defaults.config_overrides
    problems = _headerless_env(defaults.defaults, repo, merged)
    if whole_tree:
        # A reference to another key may point anywhere in the tree: resolve the whole of it.
        data = _apply_with_omegaconf(merged, overrides, layers, env, problems, resolve=True)
    else:
        data = _apply_to_touched(merged, overrides, layers, env, problems) if overrides else merged
        data = _resolve_sites(data, Origins(layers), env)
    choices = dict(defaults.overrides.known_choices)
    return Composed(
        data=data,
        env=choices.get(ENV_GROUP),
        choices=choices,
        search_path=tuple(str(root) for _, root in roots),
        origins=Origins(layers),
        problems=tuple(problems),
    )


def _headerless_env(
    defaults: Sequence[ResultDefault], repo: _Repo, merged: dict[Any, Any]
) -> list[Problem]:
    """An env file composed without ``# @package _global_`` put its keys under ``env:``
    (as Hydra does): say so and how to fix it. A resolver rule, not Hydra's: the composed data
    stays Hydra's, and the loader leaves out validation's "unknown key 'env'"."""
    for default in defaults:
        path = default.config_path or ""
        if (
            path.startswith(f"{ENV_GROUP}/")
            and default.package == ENV_GROUP
            and merged.get(ENV_GROUP)
        ):
            label = repo.label(path)
            with open(label, encoding="utf-8") as f:
                buried = "# @package _global_" in f.read()
            return [
                Problem(
                    ENV_WITHOUT_HEADER,
                    "the `# @package _global_` line is not at the top of the file, so Hydra "
                    "does not read it"
                    if buried
                    else "the file has no `# @package _global_` line, so its keys land under "
                    "`env:`",
                    file=label,
                    hint="make `# @package _global_` the first line (Hydra reads the header "
                    "only from the leading lines that start with `# @`)",
                )
            ]
    return []


def _merge_files(
    defaults: Sequence[ResultDefault], repo: _Repo, env: str | None
) -> tuple[list[Layer], dict[Any, Any] | None]:
    """Each composed file as a layer, and their merge as plain data (None when a file merges
    into an interpolation, which OmegaConf resolves mid-merge: see :func:`_merge_with_hydra`)."""
    merged: dict[Any, Any] | None = {}
    owned = {id(merged)}
    layers: list[Layer] = []
    for default in defaults:
        assert default.config_path is not None
        loaded = repo.load_config(default.config_path)
        assert loaded is not None
        if isinstance(loaded, _PlainResult) and loaded.plain is not None:
            data, interpolates = loaded.plain, loaded.interpolates
        else:
            container = OmegaConf.to_container(loaded.config, resolve=False)
            assert isinstance(container, dict)  # _PlainSource refused a file that is no mapping
            data, interpolates = container, _scan(container) is not False
        embedded = _embed(data, default.package)
        label = repo.label(default.config_path)
        if merged is not None:
            try:
                _merge(merged, embedded, owned)
            except _MergeError as e:
                raise ConfigError(
                    [Problem("compose-failed", str(e), file=label)], env=env
                ) from None
            except _IntoInterpolation:
                merged = None
        layers.append(Layer(label, embedded, interpolates=interpolates))
    return layers, merged


def _merge_with_hydra(
    defaults: Sequence[ResultDefault],
    search_path: ConfigSearchPathImpl,
    repo: _Repo,
    env: str | None,
) -> dict[Any, Any]:
    """The files merged by Hydra's own code, for the rare tree where a file merges into a key
    whose value is an interpolation: OmegaConf then merges into a copy of what it points at,
    as it stands at that moment."""
    try:
        cfg = _hydra.merge_files(defaults, search_path)
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError([_defaults_problem(e, repo, None)], env=env) from None
    data = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(data, dict)
    return data


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
        {k: v for k, v in merged.items() if k in touched},
        overrides,
        layers,
        env,
        problems,
        resolve=False,
        top_keys=merged.keys(),
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
    *,
    resolve: bool,
    top_keys: Collection[Any] = (),
) -> dict[Any, Any]:
    """The merged tree with ``overrides`` applied (and interpolations resolved if ``resolve``),
    by OmegaConf. An override OmegaConf rejects is added to ``problems`` and left out.
    ``top_keys`` are the whole tree's top-level keys when ``merged`` is only part of it."""
    cfg = OmegaConf.create(merged)
    # As Hydra does: the composed tree is closed, so a new key needs + and a typo fails here.
    OmegaConf.set_struct(cfg, True)
    for override in overrides:
        where = mask_url(f"override {override.input_line!r}")
        try:
            _hydra.apply_override(override, cfg)
        # OmegaConf lets a few plain errors out, e.g. a key path through a list (`a.b=1`).
        except (HydraException, OmegaConfBaseException, ValueError, TypeError, LookupError) as e:
            if "To append to your config use" in str(e):
                problems.append(_unknown_key_problem(override, cfg, top_keys, where))
                continue
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
        data = OmegaConf.to_container(cfg, resolve=resolve)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or None
        raise ConfigError(
            [_interpolation_problem(_first_line(e), key, Origins(layers))], env=env
        ) from None
    assert isinstance(data, dict)
    return data


def _interpolation_problem(message: str, key: str | None, origins: Origins) -> Problem:
    path: KeyPath = (
        tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", key) if p) if key else ()
    )
    return Problem("bad-interpolation", message, key=key, file=origins.of(path) if path else None)


# An interpolation that reads only the environment (``${oc.env:NAME,default}``, alone or in a
# text) has the same value wherever it stands: it is resolved on its own, and the rest of the
# tree stays plain data. Any other interpolation may read any key, and sends the whole tree
# through OmegaConf. Backslashes (escapes) are left to OmegaConf.
_SELF_CONTAINED = re.compile(
    r"(?:[^$\\]|\$(?!\{))*(?:\$\{oc\.env:[^${}\\]*\}(?:[^$\\]|\$(?!\{))*)+"
)


def _interpolations(tree: Any) -> list[tuple[KeyPath, str]]:
    """Every text in ``tree`` with ``${`` in it, and its key path."""
    found: list[tuple[KeyPath, str]] = []
    stack: list[tuple[KeyPath, Any]] = [((), tree)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
        elif isinstance(node, str) and "${" in node:
            found.append((path, node))
    return found


def _resolve_sites(data: dict[Any, Any], origins: Origins, env: str | None) -> dict[Any, Any]:
    """``data`` with each (environment-only) interpolation resolved by OmegaConf, on its own;
    the containers on the way are copied, as they may be shared with the files' data."""
    for path, text in _interpolations(data):
        try:
            resolved = OmegaConf.to_container(OmegaConf.create({"v": text}), resolve=True)
        except OmegaConfBaseException as e:
            key = _full_key(path)
            raise ConfigError(
                [_interpolation_problem(_first_line(e), key, origins)], env=env
            ) from None
        assert isinstance(resolved, dict)
        data = _replaced(data, path, resolved["v"])
    return data


def _full_key(path: KeyPath) -> str:
    """``path`` written as OmegaConf writes a key in its errors: ``a.b[0].c``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _replaced(node: Any, path: KeyPath, value: Any) -> Any:
    if not path:
        return value
    copy: Any = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _replaced(node[path[0]], path[1:], value)
    return copy


def _file_label(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _group_paths(parsed: Sequence[Override], repo: _Repo) -> list[Problem]:
    """Group choices that climb out of their group (``env=../../elsewhere/evil``)."""
    problems = []
    for override in parsed:
        value = override.value()
        names = value if isinstance(value, list) else [value]
        if not repo.group_exists(override.key_or_group) or all(
            not isinstance(n, str) or ".." not in n.split("/") for n in names
        ):
            continue
        problems.append(
            Problem(
                "bad-env-name" if override.key_or_group == ENV_GROUP else "bad-override",
                f"{override.input_line!r} names a file outside the config group",
                file=mask_url(f"override {override.input_line!r}"),
                hint=f"give a name from the {override.key_or_group}/ folder of a config dir",
            )
        )
    return problems


_PLACE = re.compile(r"In '?([^'\s:]+)'?: |defined in (\S+)")


def _defaults_problem(
    e: BaseException, repo: CachingConfigRepository, asked: str | None
) -> Problem:
    """A defaults-list failure, placed in the file Hydra names or else the one it was reading."""
    text = str(e).strip()
    found = _PLACE.search(text)
    where = next(g for g in found.groups() if g) if found else asked
    file = _config_label(repo, where) if where else None
    message = _first_line(e)
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
    if text.startswith("Duplicate _self_"):
        return Problem(
            "duplicate-self",
            "`_self_` appears more than once in the defaults list",
            file=file,
            hint="keep one `_self_`: where it stands decides whether this file's own keys "
            "come before or after its defaults",
        )
    if file is None or not found:
        # e.g. a config group given a number (env=3) or two values for one group
        return Problem("bad-override", message)
    return Problem("bad-defaults", message, file=file)


def _wrong_extension(
    repo: CachingConfigRepository, missing: str, file: str | None
) -> Problem | None:
    """``missing`` (``env/canary``) written with another extension (``env/canary.yml``)."""
    found = [
        _file_label(os.path.join(source.path, f"{missing}{ext}"))
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


def _missing_config_problem(e: MissingConfigException, repo: CachingConfigRepository) -> Problem:
    missing = e.missing_cfg_file or ""
    group, _, name = missing.rpartition("/")
    found = _PLACE.match(str(e).strip())
    parent = found.group(1) if found else None
    # A defaults list of the primary config only ever misses what the caller chose.
    file = _config_label(repo, parent) if parent and parent != PRIMARY else None
    wrong = _wrong_extension(repo, missing, file)
    if wrong is not None:
        return wrong
    if not group:
        return Problem("compose-failed", _first_line(e), file=file)
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


def _unknown_key_problem(
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
    close = get_close_matches(parts[at], [str(k) for k in known], n=1, cutoff=0.6)
    fixed = ".".join([*parts[:at], *close[:1], *parts[at + 1 :]])
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
