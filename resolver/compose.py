"""Hydra composition: search path, defaults list, overrides, and where each key came from.

Hydra decides *which* files are composed, in which order and at which package (the defaults
list, ``# @package`` headers, group overrides), through its own machinery reached in
:mod:`resolver._hydra` rather than ``hydra.initialize``/``compose``: those keep process-global
state (``GlobalHydra``) that would clash with an application already running Hydra, and they
load Hydra's own job/launcher configs, which the resolver never uses.

The files' contents (read by :mod:`resolver.configfile`) are then merged here as plain dicts.
Hydra's own path builds an OmegaConf node per value and deep-copies every tree on the way
(file -> package -> merge), which at 10,000 models took 16 s against 1 s for parsing the same
files with PyYAML's C loader. The merge follows OmegaConf's rules (see :func:`_merge`); a file
OmegaConf would treat differently from plain data (a ``defaults`` list, a value type beyond
YAML's plain ones) goes through Hydra's own loader, a file that merges into an interpolation
through Hydra's own merge, and only what needs OmegaConf becomes OmegaConf: the top-level keys
an override names, an interpolation that reads only the environment (resolved on its own), or
the whole tree when an interpolation reads other keys. The result is what ``hydra.compose``
gives (tests/compose/test_hydra_parity.py).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hydra.core.default_element import ResultDefault
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
from .compose_problems import (
    ENV_GROUP,
    PRIMARY,
    config_label,
    defaults_problem,
    first_line,
    group_paths,
    missing_config_problem,
    override_message,
    unknown_key_problem,
)
from .configfile import (
    MAX_DEPTH,
    FileProblem,
    deeper_than,
    file_label,
    read_config_file,
    too_deep,
    yaml_loader,
)
from .configfile import shipped_config_dir as shipped_config_dir
from .errors import ConfigError, Problem

ENV_WITHOUT_HEADER = "env-without-header"

# Hydra's repository, parser and OmegaConf's resolver registry are shared process state;
# composing under one lock keeps concurrent loads from interleaving inside them.
_LOCK = threading.Lock()

KeyPath = tuple[str | int, ...]


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
            if data is DELETED:  # removed the key, or a parent of it
                label = layer.label
                continue
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

    def raw(self, path: KeyPath) -> Any:
        """What the last layer that set ``path`` wrote there, before any interpolation was
        resolved (None when no layer did)."""
        found = None
        for layer in self._layers:
            if path[: len(layer.key)] != layer.key:
                continue
            data: Any = layer.data
            if data is DELETED:
                found = None
                continue
            for part in path[len(layer.key) :]:
                in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
                if not (in_list or (isinstance(data, dict) and part in data)):
                    data = _ABSENT
                    break
                data = data[part]
            if data is not _ABSENT:
                found = data
        return found

    def set_by(self, path: KeyPath) -> str | None:
        """The layer that set ``path`` itself, None when none did (not its parents')."""
        return self._label(path)


_ABSENT = object()
DELETED = object()
"""The data of a layer that is a ``~key`` override."""


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
        label = file_label(os.path.join(self.path, name))
        try:
            text, data = read_config_file(full_path, label)
            if text.startswith("\ufeff") and text[1:].lstrip().startswith("# @"):
                raise FileProblem(
                    Problem(
                        "bad-header",
                        "the file starts with a byte-order mark (U+FEFF), which hides its "
                        "`# @package` line from Hydra",
                        file=label,
                        hint="save the file as UTF-8 without a BOM (in most editors, 'UTF-8' "
                        "rather than 'UTF-8 with BOM')",
                    )
                )
            header = _hydra.read_header(text[:512])  # as Hydra reads the header
        except FileProblem as e:
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
        null_key = _null_key(data, label)
        if null_key is not None:  # OmegaConf would fail on it without saying where
            self.problems.append(null_key)
            data, header = {}, {"package": None}
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


def _null_key(data: Any, label: str) -> Problem | None:
    """A key YAML reads as null (`~:`, an empty key), named with its file and mapping."""
    stack: list[tuple[KeyPath, Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            if None in node:
                where = ".".join(map(str, path)) or "the top level"
                return Problem(
                    "bad-key",
                    f"a key under {where} is null (`~` or an empty key)",
                    file=label,
                    hint="write the key as text; quote it if it is meant as '~'",
                )
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
    return None


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

    data: dict[Any, Any]  # keys as Hydra keeps them: `2024:` stays an int
    env: str | None
    choices: dict[str, Any]
    search_path: tuple[str, ...]
    origins: Origins
    problems: tuple[Problem, ...] = ()
    """Overrides Hydra rejected (left out of ``data``), and an env file without its package
    header (its keys are under ``env`` in ``data``, as Hydra puts them)."""


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
    if isinstance(config_dirs, str | os.PathLike):
        config_dirs = [config_dirs]
    try:
        return _compose(env, overrides, config_dirs, config_path)
    except ConfigError as e:
        raise ConfigError(_name_variables(e.problems, env, config_dirs), env=e.env) from None


def _name_variables(
    problems: Sequence[Problem], env: str | None, config_dirs: Sequence[str | os.PathLike[str]]
) -> list[Problem]:
    """Problems with a bad env or config dir that is the value of ``RESOLVER_ENV`` or part of
    ``RESOLVER_CONFIG_DIRS`` name the variable: the command line and the default resolver take
    them from there, and a deployment fixes the variable, not a call."""
    from_env = os.environ.get("RESOLVER_ENV")
    dirs_variable = os.environ.get("RESOLVER_CONFIG_DIRS")
    from_dirs = [] if dirs_variable is None else dirs_variable.split(os.pathsep)
    named = []
    for p in problems:
        variable = None
        if p.key == ENV_GROUP and env is not None and env == from_env:
            variable = "RESOLVER_ENV"
        elif (index := re.fullmatch(r"config_dirs\[(\d+)\]", p.key or "")) and os.fspath(
            config_dirs[int(index[1])]
        ) in from_dirs:
            variable = "RESOLVER_CONFIG_DIRS"
        named.append(replace(p, message=f"{p.message} ({variable} holds it)") if variable else p)
    return named


def _compose(
    env: str | None,
    overrides: Sequence[str],
    config_dirs: Sequence[str | os.PathLike[str]],
    config_path: str | os.PathLike[str] | None,
) -> Composed:
    problems: list[Problem] = []
    roots = _search_roots(config_dirs, config_path, problems)
    parsed = _parse_overrides(overrides, problems)
    if env is not None:
        if _plain_name(env):
            # Quoted: --env 2024 or --env true names a file, not a number or a boolean.
            parsed += _parse_overrides([f"{ENV_GROUP}='{env}'"], problems, origin="env")
        else:
            problems.append(
                Problem(
                    "bad-env-name",
                    f"{env!r} is not an env name",
                    key=ENV_GROUP,
                    hint="an env is named by its file env/NAME.yaml in a config dir: give "
                    "NAME alone, without a path, '..' or '${'",
                )
            )
    try:
        yaml_loader()
    except ValueError as e:  # OmegaConf 2.4 refuses its node-limit variable's value
        problems.append(
            Problem("bad-node-limit", str(e), hint="unset, the limit is 10,000 nodes a file")
        )
    if problems:
        raise ConfigError(problems, env=env)
    with _LOCK, _hydra.pinned_version_base(PINNED_VERSION_BASE):
        return _compose_locked(roots, parsed, env)


def _plain_name(name: str) -> bool:
    """Whether ``name`` names an option of a group: not a path that leaves it, and nothing
    Hydra's override grammar would read as an interpolation inside the quoted choice."""
    return bool(name) and name.strip() == name and not re.search(r"[/\\'\"]|\$\{|^\.\.?$", name)


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
    # Path("") is the working directory: an empty value (an unset variable in a script) would
    # search whatever is there, and a stray env/*.yaml in it would win.
    empty = False
    for i, d in enumerate([*config_dirs, *([] if config_path is None else [config_path])]):
        if not str(os.fspath(d)).strip():
            empty = True
            where = f"config_dirs[{i}]" if i < len(config_dirs) else "config_path"
            problems.append(
                Problem(
                    "bad-config-dir",
                    f"{where} is empty, which would search the working directory {Path.cwd()}",
                    key=where,
                    hint="pass the config directory's path; write '.' for the working directory",
                )
            )
    if empty:
        return []
    named.append(
        ("config_path", Path(config_path))
        if config_path is not None
        else ("shipped", shipped_config_dir())
    )
    unusable = set()
    # Over the shipped tree, a deployment dir adds to known groups (or shadows the primary
    # config); a tree of one's own (config_path) may take whole groups from a config dir.
    groups = _groups(shipped_config_dir()) if config_path is None else []
    for name, root in named:
        why = _not_a_directory(root)
        if why is not None:
            unusable.add(name)
            problems.append(
                Problem(
                    "missing-config-dir",
                    f"{str(root)!r} {why}",
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
        elif groups and name.startswith("config_dirs") and not _holds_config(root, groups):
            problems.append(_not_a_tree(name, root, groups))
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
    return [(name, root.resolve()) for name, root in named if name not in unusable]


def _not_a_directory(root: Path) -> str | None:
    """Why ``root`` is no directory to search, or None. A path the system refuses outright (too
    long, a NUL in it) is that problem too, not an exception."""
    try:
        return None if root.is_dir() else "is not a directory"
    except (OSError, ValueError) as e:
        return f"cannot be used as a directory: {getattr(e, 'strerror', None) or e}"


def _groups(tree: Path) -> list[str]:
    """The config groups of the tree at ``tree``: its folders (none when it cannot be read)."""
    try:
        return sorted(p.name for p in tree.iterdir() if p.is_dir() and p.name[0] not in "_.")
    except OSError:
        return []


def _holds_config(root: Path, groups: Sequence[str]) -> bool:
    """Whether a deployment dir holds anything composition could read: a folder of one of the
    tree's groups, or a config file at its top (a primary config, or one a defaults list
    names by its absolute path)."""
    return any((root / g).is_dir() for g in groups) or any(root.glob("*.yaml"))


def _not_a_tree(name: str, root: Path, groups: Sequence[str]) -> Problem:
    """A config dir with nothing composition reads in it, which would load the tree as if the
    deployment changed nothing; where the tree is one level down, it is named."""
    try:
        below = sorted(p for p in root.iterdir() if p.is_dir() and _holds_config(p, groups))
    except OSError:
        below = []
    hint = (
        f"did you mean {str(below[0])!r}? it holds the config tree"
        if below
        else f"pass the directory that holds your {', '.join(g + '/' for g in groups)} folders"
    )
    return Problem(
        "bad-config-dir",
        f"{str(root)!r} holds no config group folder and no config file: nothing in it "
        "would be read, and the configuration would load as if it were not there",
        key=name,
        hint=hint,
    )


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
            problems.append(_malformed(line, e, where))
            continue
        except RecursionError:  # Hydra's grammar nests a call per bracket
            problems.append(replace(too_deep(""), file=where))
            continue
        except ValueError as e:  # a number Python will not read (over 4,300 digits)
            problems.append(
                Problem("malformed-override", str(e).split(";")[0], file=where, hint=None)
            )
            continue
        deep = None if override.is_delete() else deeper_than(override.value(), MAX_DEPTH - 1)
        if deep is not None:
            at = override.key_or_group + (deep if deep.startswith("[") else f".{deep}")
            problems.append(replace(too_deep(at), file=where))
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


_TYPOGRAPHIC_QUOTES = (
    "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a\uff02\uff07"
)
"""Quotes that word processors and chat apps put in place of ' and ", which overrides do not
take."""


def _append_hint(override: Override, e: BaseException) -> str | None:
    """Hydra's advice for ``+key`` on a key that is there, which its first line leaves out."""
    if "An item is already at" not in str(e):
        return None
    line = override.input_line or ""
    bare = line.lstrip("+")
    return f"drop the '+' to change the value: '{bare}', or write '++{bare}' to set it either way"


def _malformed(line: str, e: HydraException, where: str) -> Problem:
    """An override Hydra's grammar refuses; a typographic quote, the usual cause when an
    override is pasted from a document, is pointed at."""
    at = next((i for i, c in enumerate(line) if c in _TYPOGRAPHIC_QUOTES), None)
    if at is not None:
        quote = line[at]
        return Problem(
            "malformed-override",
            f"a typographic quote {quote} (U+{ord(quote):04X}) at column {at + 1}: overrides "
            "take only straight quotes",
            file=where,
            hint="replace it with ' or \" (a document or chat app may have curled them)",
        )
    return Problem(
        "malformed-override",
        first_line(e),
        file=where,
        hint="overrides look like key=value, +key=value, ++key=value or ~key; a model id with "
        "a dot needs a dict literal: '++fallbacks={kimi-k2.5-syn: [kimi-k2-instruct]}'",
    )


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
        return config_label(self, config_path)


def _search_path(roots: list[tuple[str, Path]]) -> ConfigSearchPathImpl:
    return _hydra.search_path([(name, f"file://{root}") for name, root in roots])


def _compose_locked(
    roots: list[tuple[str, Path]], parsed: list[Override], env: str | None
) -> Composed:
    search_path = _search_path(roots)
    file_problems: list[Problem] = []
    repo = _Repo(search_path, file_problems)
    bad_choices = group_paths(parsed, repo)
    if bad_choices:
        raise ConfigError(bad_choices, env=env)
    failure: Problem | None = None
    try:
        defaults = _hydra.defaults_list(repo, PRIMARY, parsed)
    except MissingConfigException as e:
        failure = missing_config_problem(e, repo)
    # Hydra lets plain errors out too: an assertion, a TypeError for `group=[1]`.
    except (HydraException, OmegaConfBaseException, ValueError, TypeError, AssertionError) as e:
        groups = {
            key
            for o in parsed
            if o.input_line != f"{ENV_GROUP}={env}"
            and not isinstance(o.value(), dict)  # a value (`++fallbacks={...}`), not a choice
            and repo.group_exists(key := o.key_or_group.split("@")[0])
        }
        failure = defaults_problem(e, repo, repo.asked, override_groups=groups, env=env)
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
    problems = _headerless_env(defaults.defaults, repo, merged) + _hydra_settings(layers)
    problems += _vendors_redeclared(defaults.defaults, layers)
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


def _vendors_redeclared(
    defaults: Sequence[ResultDefault], layers: Sequence[Layer]
) -> list[Problem]:
    """A vendor declared by two files of the providers group, the later replacing values of
    the earlier (its base_url, its prices): a warning naming both files and the values. A
    later file that only adds models is a way to split a vendor, and says nothing; changing
    a vendor per deployment is done by shadowing its file, or by an env file's patch."""
    problems = []
    first: dict[Any, tuple[str, Any]] = {}  # vendor -> (file, its data)
    # _merge_files makes one layer per default, in order.
    for default, layer in zip(defaults, layers, strict=True):
        if not (default.config_path or "").startswith("providers/"):
            continue
        vendors = layer.data.get("providers") if isinstance(layer.data, dict) else None
        for vendor, data in (vendors or {}).items():
            if vendor not in first:
                first[vendor] = (layer.label, data)
                continue
            label, earlier = first[vendor]
            replaced = _differing(earlier, data)
            if replaced:
                shown = ", ".join(replaced[:5]) + (", ..." if len(replaced) > 5 else "")
                problems.append(
                    Problem(
                        "vendor-redeclared",
                        f"vendor {vendor!r} is declared in {label} too, and this file replaces "
                        f"{len(replaced)} of its values: {shown}",
                        severity="warning",
                        key=f"providers.{vendor}",
                        file=layer.label,
                        hint="declare each vendor in one file; to change it for a deployment, "
                        "shadow its file in your config dir or patch it in an env file",
                    )
                )
    return problems


def _differing(earlier: Any, later: Any, prefix: str = "") -> list[str]:
    """The key paths where ``later`` gives another value than ``earlier`` (not additions)."""
    if not (isinstance(earlier, dict) and isinstance(later, dict)):
        return [] if earlier == later else [prefix or "(the whole vendor)"]
    return [
        path
        for key in later
        if key in earlier
        for path in _differing(earlier[key], later[key], f"{prefix}.{key}" if prefix else str(key))
    ]


def _hydra_settings(layers: Sequence[Layer]) -> list[Problem]:
    """A file that sets Hydra's own settings (``hydra.searchpath``...): Hydra reads them only
    from an application's primary config, and the resolver not at all, so they would change
    nothing while looking as if they did. An error, naming each file."""
    problems = []
    for layer in layers:
        if not (isinstance(layer.data, dict) and "hydra" in layer.data):
            continue
        value = layer.data["hydra"]
        named = ", ".join(f"hydra.{k}" for k in value) if isinstance(value, dict) else "hydra"
        problems.append(
            Problem(
                "hydra-setting",
                f"sets Hydra's own settings ({named}), which the resolver does not read: they "
                "would change nothing",
                key="hydra",
                file=layer.label,
                hint="add a config tree with --config-dir, config_dirs or RESOLVER_CONFIG_DIRS "
                "(instead of hydra.searchpath), and remove the hydra: key",
            )
        )
    return problems


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
        raise ConfigError([defaults_problem(e, repo, None)], env=env) from None
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
                problems.append(unknown_key_problem(override, cfg, top_keys, where))
                continue
            problems.append(
                Problem(
                    "bad-override",
                    override_message(e),
                    key=override.key_or_group,
                    file=where,
                    hint=_append_hint(override, e),
                )
            )
            continue
        # A deletion is a layer too: a key it removed is missing by the override's doing.
        value = DELETED if override.is_delete() else override.value()
        layers.append(Layer(where, value, tuple(override.key_or_group.split("."))))
    # A rejected override is left out and composition goes on, so that validation can report
    # the rest of the configuration's problems in the same pass.

    try:
        data = OmegaConf.to_container(cfg, resolve=resolve)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or None
        raise ConfigError(
            [_interpolation_problem(first_line(e), key, Origins(layers))], env=env
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
                [_interpolation_problem(first_line(e), key, origins)], env=env
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
