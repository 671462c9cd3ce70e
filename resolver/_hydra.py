"""The one seam to Hydra's and OmegaConf's private names: no other module imports one.

Composition uses Hydra's own machinery for what decides the result (the config repository,
the defaults list, package headers, overrides) without ``hydra.initialize``/``compose``, whose
global state would clash with an application's own Hydra and whose job/launcher configs cost a
third of a compose. Hydra has no public API for those pieces, so they are reached here, each
behind a small function or re-export, and a Hydra release that moves one breaks this module
alone. The private names, and why no public one serves:

- ``hydra._internal.config_repository.ConfigRepository``, ``CachingConfigRepository``: the
  repository of config sources the defaults list is built from; its sources are swapped for the
  plain-data source of :mod:`resolver.compose` on one repository only.
- ``hydra._internal.config_search_path_impl.ConfigSearchPathImpl``: the search path, built from
  the caller's config dirs rather than from ``hydra.searchpath``.
- ``hydra._internal.core_plugins.file_config_source.FileConfigSource``: the ``file://`` source
  the plain-data source extends; ``hydra._internal.sources_registry.SourcesRegistry``, where
  Hydra looks sources up by scheme.
- ``hydra._internal.defaults_list.create_defaults_list``: which files compose, in which order
  and at which package (a ``DefaultsList``).
- ``hydra._internal.config_loader_impl.ConfigLoaderImpl``: ``_apply_overrides_to_config``
  applies ``key=value``/``+``/``++``/``~`` overrides as Hydra does, and
  ``_compose_config_from_defaults_list`` merges the files as Hydra does (only for the rare tree
  that merges into an interpolation); ``StructuredConfigSource``
  (``hydra._internal.core_plugins.structured_config_source``) is the schema source that merge
  expects.
- ``hydra.plugins.config_source.ConfigSource._get_header_dict`` and ``_normalize_file_name``:
  how Hydra reads a ``# @package`` header and names a config's file.
- ``hydra.version.VersionBase``: the process-wide compatibility rules, pinned to 1.3's while
  composing on Hydra 1.3 (Hydra 1.4 has one set of rules).
- ``omegaconf._utils.get_yaml_loader`` (``omegaconf._yaml`` in 2.4): OmegaConf's YAML loader
  (its float rule, no timestamps, duplicate keys refused), which the fast C-parser loader is
  built on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.config_repository import CachingConfigRepository, ConfigRepository
from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
from hydra._internal.core_plugins.file_config_source import FileConfigSource
from hydra._internal.defaults_list import DefaultsList, create_defaults_list
from hydra._internal.sources_registry import SourcesRegistry
from hydra.core.default_element import ResultDefault
from hydra.core.override_parser.types import Override
from hydra.plugins.config_source import ConfigSource
from omegaconf import DictConfig

__all__ = [
    "CachingConfigRepository",
    "ConfigRepository",
    "ConfigSearchPathImpl",
    "FileConfigSource",
    "apply_override",
    "config_file_name",
    "defaults_list",
    "merge_files",
    "pinned_version_base",
    "read_header",
    "search_path",
    "yaml_loader_base",
]


def yaml_loader_base() -> type:
    """OmegaConf's YAML loader class (PyYAML's pure-Python parser in 2.3, its C parser in
    2.4)."""
    try:
        from omegaconf._utils import get_yaml_loader  # OmegaConf 2.3
    except ImportError:
        # OmegaConf 2.4 (its stubs are not what mypy checks against here)
        from omegaconf._yaml import get_yaml_loader  # type: ignore[import-not-found,no-redef]

    loader: type = get_yaml_loader()
    return loader


def read_header(text: str) -> dict[str, str | None]:
    """The ``# @key value`` header of a config file's text, as Hydra reads it (ValueError on
    a malformed header line)."""
    return ConfigSource._get_header_dict(text)


def config_file_name(config_path: str) -> str:
    """The file name Hydra gives a config path (``env/prod`` -> ``env/prod.yaml``)."""
    return ConfigSource._normalize_file_name(config_path)


def search_path(roots: Sequence[tuple[str, str]]) -> ConfigSearchPathImpl:
    """A search path of ``(provider, url)`` entries, in order."""
    SourcesRegistry.instance().register(FileConfigSource)
    path = ConfigSearchPathImpl()
    for provider, url in roots:
        path.append(provider, url)
    return path


def defaults_list(
    repo: CachingConfigRepository, primary: str, overrides: list[Override]
) -> DefaultsList:
    """Hydra's defaults list for ``primary`` with ``overrides``, without Hydra's own configs."""
    return create_defaults_list(
        repo=repo,
        config_name=primary,
        overrides_list=overrides,
        prepend_hydra=False,
        skip_missing=False,
    )


def apply_override(override: Override, cfg: DictConfig) -> None:
    """Apply one parsed override to ``cfg`` as Hydra applies command-line overrides."""
    ConfigLoaderImpl._apply_overrides_to_config([override], cfg)


def merge_files(defaults: Sequence[ResultDefault], path: ConfigSearchPathImpl) -> DictConfig:
    """The files of ``defaults`` loaded and merged by Hydra's own code."""
    from hydra._internal.core_plugins.structured_config_source import StructuredConfigSource

    # Hydra's loader checks each file against a ConfigStore schema of the same name, and
    # expects that source last on the path.
    SourcesRegistry.instance().register(StructuredConfigSource)
    with_schema = ConfigSearchPathImpl()
    for element in path.get_path():
        with_schema.append(element.provider, element.path)
    with_schema.append("schema", "structured://")
    repo = CachingConfigRepository(ConfigRepository(config_search_path=with_schema))
    loader = ConfigLoaderImpl(config_search_path=with_schema)
    cfg: DictConfig = loader._compose_config_from_defaults_list(defaults=list(defaults), repo=repo)
    return cfg


@contextlib.contextmanager
def pinned_version_base(version: str) -> Iterator[None]:
    """Hydra's compatibility rules set to ``version`` for the block, then put back as they were
    (including "never set")."""
    from hydra import __version__
    from hydra.version import VersionBase
    from packaging.version import Version

    if Version(__version__) >= Version("1.4.0rc1"):
        yield  # Hydra 1.4 has one set of rules, its own: nothing to pin
        return
    base = VersionBase.instance()
    saved: Any = base.version_base
    base.version_base = Version(version)
    try:
        yield
    finally:
        base.version_base = saved
