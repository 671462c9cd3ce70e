"""Reading one config file as Hydra reads it: UTF-8 text, OmegaConf's YAML rules, a mapping.

Every file of a composition is read here, whichever path (ours or Hydra's) then uses it, so
that the two never disagree on a file. A file that cannot be read is a :class:`FileProblem`
naming it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from pathlib import Path
from typing import Any

import yaml

from . import _hydra
from .errors import Problem

NODE_LIMIT_VARIABLE = "OMEGACONF_MAX_YAML_EXPANDED_NODES"
"""OmegaConf 2.4 caps the YAML nodes of a file (10,000 by default) and reads this variable
whenever it builds a loader; earlier OmegaConf has no cap and ignores it."""


def yaml_loader() -> type:
    """OmegaConf's YAML loader (its float resolver, no timestamps, duplicate keys refused) on
    PyYAML's C parser when libyaml is there: the same values, parsed five to ten times faster.
    OmegaConf 2.4's own loader is built on the C parser already, and is used as it is.

    Raises ValueError when OmegaConf 2.4 refuses the value of :data:`NODE_LIMIT_VARIABLE`."""
    # Keyed on the variable, as Hydra builds a loader per file: a limit changed between two
    # loads applies to both readers alike.
    return _yaml_loader(os.environ.get(NODE_LIMIT_VARIABLE))


@functools.cache
def _yaml_loader(node_limit: str | None) -> type:
    base: type = _omegaconf_loader(node_limit)
    # CParser is not exported by `yaml` itself, only by yaml.cyaml, there when libyaml is.
    parser: type | None = getattr(getattr(yaml, "cyaml", None), "CParser", None)
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
def _omegaconf_loader(node_limit: str | None) -> type:
    # node_limit only keys the cache: OmegaConf reads the variable itself.
    return _hydra.yaml_loader_base()


# libyaml is more lenient than PyYAML's own scanner, which OmegaConf 2.3 (and so Hydra 1.3)
# uses: it accepts a tab after a value and reads some non-ASCII line breaks and characters its
# own way. A text with a tab or any non-ASCII character goes through OmegaConf's own loader,
# so every file of a composition is held to Hydra's rule, whichever path (ours or Hydra's)
# reads it.
_PYTHON_ONLY = re.compile(r"[^\x00-\x08\x0a-\x7f]")


def parse_yaml(text: str) -> Any:
    """``text`` parsed exactly as Hydra parses a config file (raises ``yaml.YAMLError``)."""
    limit = os.environ.get(NODE_LIMIT_VARIABLE)
    loader = _omegaconf_loader(limit) if _PYTHON_ONLY.search(text) else _yaml_loader(limit)
    return yaml.load(text, Loader=loader)


class FileProblem(Exception):
    """A config file that cannot be read, as the problem that says so."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


MAX_FILE_BYTES = 64 * 1024 * 1024
"""How large one config file may be: a catalog of 10,000 models is about 2 MB in all; a file
far larger is a mistake (a log, a dump) that would take the loader minutes and gigabytes."""


def read_config_file(path: str, label: str) -> tuple[str, Any]:
    """A config file's text and data; a file that is not UTF-8 text, not YAML, or not a mapping
    raises :class:`FileProblem` naming ``label``."""
    try:
        size = os.stat(path).st_size
        if size > MAX_FILE_BYTES:
            raise FileProblem(
                Problem(
                    "yaml-too-large",
                    f"the file is {size:,} bytes, more than the {MAX_FILE_BYTES:,} a config "
                    "file may be",
                    file=label,
                    hint="split its models over several files of the group, or check that "
                    "this is the file you meant",
                )
            )
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise FileProblem(
            Problem(
                "not-utf8",
                f"not UTF-8 text: byte {e.object[e.start]:#04x} at offset {e.start}",
                file=label,
                hint="save the file as UTF-8",
            )
        ) from None
    try:
        data = parse_yaml(text)
    except RecursionError:  # PyYAML's own parser nests a call per level
        raise FileProblem(dataclasses.replace(too_deep(""), file=label)) from None
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if "maximum nesting depth" in problem:  # libyaml's cap, 1,000 levels
            raise FileProblem(dataclasses.replace(too_deep(""), file=label)) from None
        # OmegaConf 2.4 refuses aliases itself, by a cap on expanded nodes or as "recursive":
        # the file is then sized as older OmegaConf reads it, so that one message says what
        # the aliases do, whichever OmegaConf is installed.
        by_alias = _alias_refusal(text) if "&" in text else None
        if by_alias is not None:
            code, message, hint = by_alias
            raise FileProblem(Problem(code, message, file=label, hint=hint)) from None
        if NODE_LIMIT_VARIABLE in problem:
            # OmegaConf 2.4's cap on a file's nodes: the file is fine, the cap is too low.
            raise FileProblem(
                Problem(
                    "yaml-too-large",
                    f"more YAML nodes than OmegaConf allows: {problem}",
                    file=label,
                    hint=f"raise {NODE_LIMIT_VARIABLE} (a number of nodes) in the environment "
                    "that loads the config, or split the file's models over several files",
                )
            ) from None
        mark = getattr(e, "problem_mark", None)
        line = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise FileProblem(
            Problem(
                "malformed-yaml",
                f"not valid YAML{line}: {problem}",
                file=label,
                hint="check indentation, closing brackets, quotes around values that contain "
                "': ', and tabs (YAML indents and separates with spaces only)",
            )
        ) from None
    found = data_problem(data, text)
    if found is not None:
        raise FileProblem(dataclasses.replace(found, file=label))
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise FileProblem(
            Problem(
                "not-a-mapping",
                f"the file holds {_kind_of(data)}, where a config file is a mapping of keys",
                file=label,
                hint="write `key: value` lines at the top level",
            )
        )
    return text, data


def data_problem(data: Any, text: str) -> Problem | None:
    """What is wrong with parsed YAML ``data`` (read from ``text``) as a config's data, before
    any other walk over it: aliases that expand it past :data:`ALIAS_EXPANSION_LIMIT` or into
    themselves, or a value a config cannot hold (a ``!!set``, ``!!binary``...). None: nothing."""
    # Only an anchor (&name) can be aliased, and only a !! tag makes a YAML-only value: most
    # files have neither and skip the walks.
    aliased = alias_problem(data) if "&" in text else None
    if aliased is not None:
        code, message, hint = aliased
        return Problem(code, message, hint=hint)
    deep = deeper_than(data, MAX_DEPTH)
    if deep is not None:
        return too_deep(deep)
    foreign = _foreign_value(data) if "!!" in text else None
    if foreign is not None:
        path, value = foreign
        return Problem(
            "yaml-type",
            f"a YAML {type(value).__name__} (from a !! tag), which a config cannot hold: "
            "only mappings, lists, text, numbers, booleans and null",
            key=path or None,
            hint="remove the tag, and write a set or pairs as a list",
        )
    return None


MAX_DEPTH = 32
"""How deep a config file may nest mappings and lists. The catalog's deepest key is six levels
down (``providers.VENDOR.models.ID.pricing.prompt``); far deeper data would exhaust the
recursion of the libraries that merge and resolve it, which then fail without a word of where."""


def too_deep(path: str) -> Problem:
    """The problem of data nested deeper than :data:`MAX_DEPTH`, first at ``path``."""
    return Problem(
        "too-deep",
        f"nests mappings and lists more than {MAX_DEPTH} levels deep (the limit)",
        key=path or None,
        hint="a config needs a handful of levels: flatten the value, or move it out of the config",
    )


def deeper_than(data: Any, limit: int) -> str | None:
    """The key path of a container ``limit`` levels below the top, or None. The usual file
    is walked once without paths (a few percent of its parse); only one too deep again."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth >= limit:
            return _path_to_depth(data, limit)
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return None


def _path_to_depth(data: Any, limit: int) -> str:
    path = ""
    node = data
    for _ in range(limit):
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        # Down the child that leads deepest: the first container child reaching the limit.
        key, node = next((k, v) for k, v in items if _reaches(v, limit - 1))
        path = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
        limit -= 1
    return path


def _reaches(node: Any, levels: int) -> bool:
    """Whether ``node`` is a container holding containers ``levels`` deep."""
    stack = [(node, 0)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth >= levels:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children)
    return False


ALIAS_EXPANSION_LIMIT = 10_000
"""How many nodes YAML aliases may add to a file beyond those it holds: sharing a block among a
few dozen models adds hundreds; nested aliases ("billion laughs") add billions, and every walk
over the loaded tree (ours, OmegaConf's) would take as long as the expansion."""


def alias_problem(data: Any) -> tuple[str, str, str] | None:
    """The code, message and hint of what aliases make of ``data`` (None: nothing wrong):
    nodes added beyond :data:`ALIAS_EXPANSION_LIMIT`, or a node that contains itself. Linear
    in the distinct nodes: each shared mapping or list is sized once."""
    if not isinstance(data, dict | list):
        return None
    sizes: dict[int, int] = {}  # id -> expanded nodes, of each container sized
    open_: set[int] = set()  # containers whose children are being sized
    held = 0  # nodes the file holds: each distinct container and its scalar children
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = list(node.values() if isinstance(node, dict) else node)
        if children_done:
            open_.discard(key)
            sizes[key] = 1 + sum(
                sizes[id(c)] if isinstance(c, dict | list) else 1 for c in children
            )
            continue
        if key in sizes:
            continue
        if key in open_:
            return (
                "yaml-alias-cycle",
                "a YAML alias refers to a mapping or list that contains it: it would never end",
                "replace the alias (`*name`) inside its own anchor's block with the values",
            )
        open_.add(key)
        held += 1 + sum(not isinstance(c, dict | list) for c in children)
        stack.append((node, True))
        stack.extend((c, False) for c in children if isinstance(c, dict | list))
    added = sizes[id(data)] - held
    if added <= ALIAS_EXPANSION_LIMIT:
        return None
    return (
        "yaml-too-large",
        f"its YAML aliases expand it by {added:,} nodes beyond the {held:,} it holds, more "
        f"than the {ALIAS_EXPANSION_LIMIT:,} allowed (aliases nested in aliases multiply)",
        "write the shared blocks out, or alias only leaf blocks (not blocks of aliases)",
    )


def _alias_refusal(text: str) -> tuple[str, str, str] | None:
    """What aliases make of ``text`` read by PyYAML's safe loader, which shares an aliased
    block instead of copying it (so this is linear in the file); None when that fails too."""
    try:
        return alias_problem(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError:
        return None


_PLAIN = (str, int, float, bool, type(None))


def _foreign_value(data: Any) -> tuple[str, Any] | None:
    """The key path and value of the first value that is not JSON's kind of data."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(node))
        elif not isinstance(node, _PLAIN):
            return path, node
    return None


def _kind_of(data: Any) -> str:
    return "a list" if isinstance(data, list) else f"a single value ({type(data).__name__})"


@functools.cache
def shipped_config_dir() -> Path:
    """The configuration tree shipped with the package."""
    package = Path(__file__).resolve().parent
    installed = package / "conf"  # a wheel install: conf/ is packaged as resolver/conf
    return installed if installed.is_dir() else package.parent / "conf"  # a source checkout


def file_label(path: str) -> str:
    """``path`` as problems show it: a shipped file as ``conf/...`` wherever the package is
    installed (the same label from a wheel as from a checkout, as the README shows it), any
    other relative to the working directory when under it."""
    # realpath, unlike Path.resolve, names a symbolic link loop instead of raising.
    resolved = Path(os.path.realpath(path))
    if resolved.is_relative_to(shipped_config_dir()):
        return f"conf/{resolved.relative_to(shipped_config_dir()).as_posix()}"
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path
