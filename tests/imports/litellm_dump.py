"""Run with the Python of a separate LiteLLM venv (LiteLLM is large and pins its own dependencies,
so it stays out of the project's venv):

    python litellm_dump.py CONFIG.yaml [CONFIG.yaml ...]

Builds a real ``litellm.Router`` from a LiteLLM proxy config the way the proxy's
``ProxyConfig.load_config`` (litellm/proxy/proxy_server.py) does, makes no call through it, and
prints one line of JSON per config saying how the Router sees it: its model groups, each
deployment's weight/order/rpm/tpm, the fallback lists, the aliases and the routing strategy. A
test compares the lines for an original config and a round-tripped one, so the comparison is
LiteLLM's own reading rather than ours. When the Router refuses a config it prints
``{"error": "<class>: <message>"}`` and goes on: whether a refusal is expected is for the
caller to decide.

LiteLLM 1.110.2's Router is a facade over a Rust-backed core (``RustCore``); its old attributes
(``model_names``, ``fallbacks``, ...) still work but warn, so this reads the entry points they
point to instead: ``router.registry()`` and ``router.settings()``.
"""

import asyncio
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

# The cost map ships inside the package; without this, importing litellm fetches it over the
# network. Set here, not left to the caller, so no run of this script ever reaches out.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import litellm
import yaml
from litellm.constants import ROUTER_SETTINGS_MANAGED_OUTSIDE_CONFIG
from litellm.proxy.common_utils.config_includes import resolve_include_file_path, resolve_includes
from litellm.router import router_arguments
from litellm.router_api import router_init_args
from litellm.router_config import build_router_config
from litellm.types.router import RouterGeneralSettings, holds_secret_pointer

# The fallback lists the proxy also takes from litellm_settings. It sets every litellm_settings key
# it has no special case for on the litellm module (``setattr(litellm, key, value)``), and the
# Router reads these four from there (litellm/router_config.py, ``current_dynamic_config``) when its
# own argument is empty.
LITELLM_SETTINGS_FALLBACKS = (
    "fallbacks",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
)
# Their values before any config set them, to put back for the next config of a run.
_UNSET = {key: getattr(litellm, key, None) for key in LITELLM_SETTINGS_FALLBACKS}

# The proxy refuses these two in router_settings instead of ignoring them: they belong in
# general_settings.
REFUSED_ROUTER_SETTINGS = frozenset({"health_check_interval", "health_check_concurrency"})

# Where the Router would connect to Redis. Left out: connecting is a network call (and the venv has
# no redis client), and nothing this script reports depends on where the shared state lives.
REDIS_CONNECTION = frozenset(
    {"redis_url", "redis_host", "redis_port", "redis_password", "redis_db"}
)

ENV_PREFIX = "os.environ/"


def placeholder(key: str, value: Any, parent: str = "") -> Any:
    """A config value with ``os.environ/NAME`` read as ``env:NAME``, by the proxy's rule.

    The proxy (``ProxyConfig._check_for_os_environ_vars``) reads the variable for every such string
    that is a mapping's value, at any depth (through lists only into the mappings they hold), except
    under the keys ``holds_secret_pointer`` names. The environment is never read here: a config
    whose variables are unset must still load, and the same config must read the same whatever the
    machine has set. A deployment's ``litellm_params.model`` gets ``openai/env:NAME``: the Router
    drops a deployment whose model names no provider, where the proxy would have had the variable's
    real model string.
    """
    if isinstance(value, dict):
        return {name: placeholder(name, item, key) for name, item in value.items()}
    if isinstance(value, list):
        return [
            placeholder(key, item, parent) if isinstance(item, dict) else item for item in value
        ]
    if isinstance(value, str) and value.startswith(ENV_PREFIX) and not holds_secret_pointer(key):
        name = "env:" + value[len(ENV_PREFIX) :]
        return "openai/" + name if (parent, key) == ("litellm_params", "model") else name
    return value


def load_config(path: str) -> dict[str, Any]:
    """The config file with its ``include`` files merged in, as the proxy's ``get_config`` reads it.

    Uses the proxy's own merge (litellm/proxy/common_utils/config_includes.py): lists extended,
    other values replaced, each entry found next to the file that names it.
    """
    root = os.path.abspath(path)

    def resolve(entry: str, declared_in: str) -> str:
        return resolve_include_file_path(entry, declared_in, root)

    async def read(location: str) -> Mapping[str, object]:
        if not os.path.exists(location):
            raise FileNotFoundError(f"Included file not found: {location}")
        with open(location, encoding="utf-8") as f:
            included = yaml.safe_load(f) or {}
        if not isinstance(included, dict):
            raise ValueError(f"Included config file is not a YAML mapping: {location}")
        return included

    with open(root, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    if not config:
        raise ValueError("Config cannot be None or Empty.")
    return asyncio.run(resolve_includes(config=config, location=root, resolve=resolve, read=read))


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to fd 1 to stderr meanwhile, so stdout carries only the JSON line.

    At file-descriptor level rather than ``sys.stdout`` because the Rust core and LiteLLM's startup
    messages may write to the descriptor directly.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def build_router(config: Mapping[str, Any]) -> Any:
    """The Router the proxy would build from ``config`` (the parts of load_config that reach it)."""
    litellm_settings = config.get("litellm_settings") or {}
    for key in LITELLM_SETTINGS_FALLBACKS:
        # Module state: what an earlier config of the same run set must not reach this one.
        setattr(litellm, key, litellm_settings.get(key, _UNSET[key]))

    # The proxy sets cache_responses from whether litellm_settings set up a cache. None is set up
    # here (it may live in Redis, and nothing reported depends on it), so it is False unless
    # router_settings says otherwise.
    router_params: dict[str, Any] = {"cache_responses": False}
    model_list = config.get("model_list")
    if model_list:
        router_params["model_list"] = model_list

    router_settings = config.get("router_settings")
    if router_settings and isinstance(router_settings, dict):
        available = frozenset(router_init_args()) - ROUTER_SETTINGS_MANAGED_OUTSIDE_CONFIG
        for key, value in router_settings.items():
            if key in REDIS_CONNECTION:
                continue
            if key in available:
                router_params[key] = value
            elif key in REFUSED_ROUTER_SETTINGS:
                raise ValueError(
                    f"'{key}' is NOT a valid router_settings parameter. "
                    "Please move it to 'general_settings'."
                )
            # Any other key the proxy ignores with a warning, and so does this.

    # The arguments the proxy adds itself. ignore_invalid_deployments matters most: a deployment
    # the Router cannot build is dropped (its group stays known, with no deployments) rather than
    # refusing the whole config, as the proxy does.
    return litellm.Router.from_config(
        build_router_config(
            router_arguments(
                **router_params,
                router_general_settings=RouterGeneralSettings(async_only_mode=True),
                ignore_invalid_deployments=True,
            )
        )
    )


def fallback_map(entries: Sequence[Any] | None) -> dict[str, Any]:
    """A fallback list as ``{group: backups}``, read the way LiteLLM's lookup reads it.

    ``get_fallback_model_group`` (litellm/router_utils/fallback_event_handlers.py) looks at the
    first key of each entry; the first entry naming a group wins, and the last ``*`` entry does.
    An empty entry names no group and is skipped, as there. Entries that are not mappings (the
    Router refuses them in ``fallbacks`` and ``content_policy_fallbacks`` but keeps them in
    ``context_window_fallbacks``) have no group either, so they are kept, in order, under ``""``.
    """
    mapped: dict[str, Any] = {}
    for entry in entries or ():
        if not isinstance(entry, Mapping):
            mapped.setdefault("", []).append(entry)
        elif entry:
            group = str(next(iter(entry)))
            if group == "*":
                mapped["*"] = entry[group]
            else:
                mapped.setdefault(group, entry[group])
    return mapped


def deployment_fields(deployment: Mapping[str, Any]) -> dict[str, Any]:
    params = deployment.get("litellm_params") or {}
    return {name: params.get(name) for name in ("weight", "order", "rpm", "tpm")}


def describe(router: Any) -> dict[str, Any]:
    registry = router.registry()
    settings = router.settings()

    # names(kind="group_set") is what the ``model_names`` attribute was: the configured groups.
    # names() (``get_model_names``) is not used: it repeats a name per deployment and adds aliases.
    groups = sorted(registry.names(kind="group_set"))
    deployments: dict[str, list[dict[str, Any]]] = {group: [] for group in groups}
    for deployment in registry.all():
        deployments.setdefault(deployment["model_name"], []).append(deployment_fields(deployment))
    for group, rows in deployments.items():
        deployments[group] = sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))

    # The Router keeps no default_fallbacks of its own: it appends them to ``fallbacks`` as a
    # ``{"*": [...]}`` entry, which a ``*`` entry written in ``fallbacks`` also is. So the ``*``
    # entry is reported as default_fallbacks, and the two spellings read the same.
    fallbacks = fallback_map(settings.fallbacks)
    default_fallbacks = fallbacks.pop("*", None) or []

    return {
        "groups": groups,
        "deployments": deployments,
        "fallbacks": fallbacks,
        "context_window_fallbacks": fallback_map(settings.context_window_fallbacks),
        "content_policy_fallbacks": fallback_map(settings.content_policy_fallbacks),
        "default_fallbacks": list(default_fallbacks),
        "aliases": dict(registry.aliases() or {}),
        "routing_strategy": settings.routing_strategy,
    }


def main() -> None:
    # Several configs in one run: importing LiteLLM takes seconds, a Router a few milliseconds.
    for path in sys.argv[1:]:
        # A path that names no file is the caller's mistake, not a refusal: two of them must
        # not compare equal as the same error.
        if not os.path.isfile(path):
            sys.exit(f"litellm_dump.py: no config file at {path}")
        print(dump(path), flush=True)


def dump(path: str) -> str:
    """The JSON line for the config at ``path``."""
    with stdout_to_stderr():
        try:
            # Loading is inside: a config the proxy cannot load (a missing include) is refused too.
            config = placeholder("", load_config(path))
            result = describe(build_router(config))
        except Exception as e:  # the caller reads the class and first line, never a traceback
            first_line = (str(e).splitlines() or [""])[0]
            result = {"error": f"{type(e).__name__}: {first_line}"}
    # default=str: a value the Router holds as an object (a pydantic model) still prints.
    return json.dumps(result, sort_keys=True, default=str)


if __name__ == "__main__":
    main()
