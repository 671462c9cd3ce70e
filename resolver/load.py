"""The one entry point that composes: ``load()`` -> compose, validate, index."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .catalog import Vendor
from .errors import ConfigError, Problem
from .resolve import Resolver
from .validate import validate

if TYPE_CHECKING:
    from .compose import Composed, KeyPath, Origins


def load(
    env: str | None = None,
    overrides: Sequence[str] = (),
    config_dirs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] = (),
    config_path: str | os.PathLike[str] | None = None,
    *,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Resolver:
    """Compose the configuration, validate it whole, and return an immutable :class:`Resolver`.

    ``env`` picks the deployment overlay (``env/<name>.yaml``; the primary config's default,
    ``prod``, when None). ``overrides`` are Hydra override strings. ``config_dirs`` (a list,
    or one path) add a deployment's own config trees, searched before the shipped one;
    ``config_path`` replaces the shipped tree. ``environ`` (default ``os.environ``) is what the
    key-variable warnings check.

    Raises :class:`ConfigError` with every problem found when there is any error, or any
    warning with ``strict=True``; nothing is returned half-loaded. Warnings otherwise end up in
    ``Resolver.warnings``. Safe to call from many threads at once.
    """
    loaded, _ = load_composed(
        env, overrides, config_dirs, config_path, strict=strict, environ=environ
    )
    return loaded


def load_composed(
    env: str | None = None,
    overrides: Sequence[str] = (),
    config_dirs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] = (),
    config_path: str | os.PathLike[str] | None = None,
    *,
    strict: bool = False,
    environ: Mapping[str, str] | None = None,
) -> tuple[Resolver, Composed]:
    """:func:`load`, also returning the composition it validated (for tools that show it)."""
    # Hydra is imported here, not at module level, so that `import resolver` stays light.
    from .compose import ENV_WITHOUT_HEADER, compose

    if isinstance(overrides, str):
        overrides = [overrides]
    composed = compose(
        env=env, overrides=overrides, config_dirs=config_dirs, config_path=config_path
    )
    validated = validate(
        composed.data,
        origin_of=functools.partial(_origin_of, composed.origins),
        environ=os.environ if environ is None else environ,
    )
    problems = _naming_variables(composed.problems + validated.problems, composed.origins)
    empty_env = composed.data.get("env", ...) in (None, {})  # what an empty env file composes to
    if empty_env or any(p.code == ENV_WITHOUT_HEADER for p in composed.problems):
        # The env's keys under `env:` are that one problem, not an unknown key besides; an
        # empty env file is an env that changes nothing.
        problems = tuple(p for p in problems if not (p.code == "unknown-key" and p.key == "env"))
    if strict:
        problems = tuple(replace(p, severity="error") for p in problems)
    if any(p.severity == "error" for p in problems):
        raise ConfigError(problems, env=composed.env)
    origins = {
        source: composed.origins.of(("fallbacks", source)) or "?" for source in validated.fallbacks
    }
    # Composition's own warnings (a vendor redeclared) are the resolver's as validation's are.
    validated = replace(validated, problems=problems)
    return Resolver(validated, env=composed.env, origins=origins), composed


_ENV_REFERENCE = re.compile(r"\$\{oc\.env:([A-Za-z_][A-Za-z0-9_]*)")


def _naming_variables(problems: Sequence[Problem], origins: Origins) -> tuple[Problem, ...]:
    """Each problem with a value read from the environment (``${oc.env:NAME}``) names the
    variable too: the file names the key, and the variable is where the value came from."""
    named = []
    for p in problems:
        raw = origins.raw(_key_path(p.key)) if p.key else None
        names = _ENV_REFERENCE.findall(raw) if isinstance(raw, str) else []
        if names:
            p = replace(p, message=f"{p.message} (the value of {', '.join(names)})")
        named.append(p)
    return tuple(named)


def _key_path(key: str) -> KeyPath:
    """A rendered key (``a.b[0]``) as a key path; a part with a dot in it (a quoted id) is
    not found again, and names nothing."""
    path: list[str | int] = []
    for part in key.split("."):
        name, *indexes = part.split("[")
        path.append(name)
        path += [int(i.rstrip("]")) for i in indexes if i.rstrip("]").isdigit()]
    return tuple(path)


def _origin_of(origins: Origins, path: KeyPath) -> str | None:
    """The layer that wrote the value at ``path``. A per-model patch (``models.ID``) is
    validated where the model is declared (``providers.VENDOR.models.ID``), but a value the
    patch set is the patch's file's, not the vendor file's."""
    if len(path) > 4 and path[0] == "providers" and path[2] == "models":
        patched = origins.set_by(("models", *path[3:]))
        if patched is not None:
            return patched
    return origins.of(path)


def load_registry(
    config_dirs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] = (),
) -> dict[str, Vendor]:
    """The vendor registry (``registry/litellm.yaml``), as extended or overridden by
    ``config_dirs``, every entry checked: raises :class:`ConfigError` naming each bad one."""
    from .compose import compose
    from .fields import Findings
    from .validate import registry_entries

    composed = compose(
        env=None, overrides=["registry=litellm"], config_dirs=config_dirs, config_path=None
    )
    find = Findings(composed.origins.of)
    entries = registry_entries(composed.data.get("registry", {}), find)
    if find.problems:
        raise ConfigError(find.problems)
    return entries
