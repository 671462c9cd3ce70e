"""The public surface: exported names, a light import, threads, and a host app's Hydra."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import resolver
from resolver.compose import shipped_config_dir

PUBLIC = {
    "ALL_PROVIDERS", "ERROR_CLASSES", "MODEL_FALLBACKS", "ConfigError", "CostPolicy",
    "EdgePolicy", "ErrorClass", "Explanation", "Group", "Member", "Policy", "Pricing", "Problem",
    "Provider", "Resolver", "ResolverError", "Step", "default_resolver", "explain",
    "get_fallback_chain", "get_fallback_provider", "load",
}  # fmt: skip


def test_all_names_are_exported() -> None:
    """resolver.__all__ lists the public names, each importable from the package."""
    assert set(resolver.__all__) >= PUBLIC
    assert len(set(resolver.__all__)) == len(resolver.__all__)
    for name in resolver.__all__:
        assert getattr(resolver, name) is not None, name


def test_unknown_attribute_raises_attribute_error() -> None:
    """A misspelt module attribute is an AttributeError, not a config load."""
    with pytest.raises(AttributeError, match="MODEL_FALLBACK"):
        _ = resolver.MODEL_FALLBACK


def test_import_is_light(tmp_path) -> None:
    """`import resolver` of the installed package (not the checkout on sys.path) imports none
    of Hydra, OmegaConf, httpx, PyYAML, asyncio or redis."""
    code = (
        "import sys, resolver; "
        "heavy = ('hydra', 'omegaconf', 'httpx', 'yaml', 'asyncio', 'redis'); "
        "print(resolver.__file__); "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code],  # -I: no PYTHONPATH, no cwd on sys.path
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    where, heavy = out.stdout.splitlines()
    assert Path(where).resolve() == Path(resolver.__file__).resolve()
    assert heavy == ""


def test_shipped_config_is_found() -> None:
    """The shipped tree is found next to the package (wheel) or the checkout."""
    root = shipped_config_dir()
    for rel in ("config.yaml", "providers/synthetic.yaml", "providers/together.yaml",
                "fallbacks/seed.yaml", "policy/default.yaml", "env/dev.yaml",
                "env/staging.yaml", "env/prod.yaml"):  # fmt: skip
        assert (root / rel).is_file(), rel


def test_concurrent_loads_agree() -> None:
    """load() from many threads at once gives equal resolvers and no errors."""
    envs = ["dev", "staging", "prod"] * 6
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda env: resolver.load(env=env), envs))
    by_env = {}
    for env, r in zip(envs, results, strict=True):
        assert r.env == env
        by_env.setdefault(env, dict(r.fallbacks))
        assert dict(r.fallbacks) == by_env[env]
    assert by_env["staging"]["kimi-k2.5-syn"] == ("kimi-k2-instruct",)


def test_load_inside_a_host_hydra_app(tmp_path: Path) -> None:
    """Loading inside an app that already initialised Hydra works and leaves its state alone."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    (tmp_path / "app.yaml").write_text("name: host-app\n")
    with initialize_config_dir(config_dir=str(tmp_path), version_base="1.3"):
        before = compose(config_name="app")
        r = resolver.load(env="staging")
        assert GlobalHydra.instance().is_initialized()
        after = compose(config_name="app")
    assert before == after
    assert r.fallbacks["kimi-k2.5-syn"] == ("kimi-k2-instruct",)


def test_resolver_is_immutable() -> None:
    """A resolver's tables cannot be changed after loading."""
    r = resolver.load()
    with pytest.raises(TypeError):
        r.fallbacks["glm-4.6-syn"] = ("deepseek-r1",)  # type: ignore[index]
    with pytest.raises(AttributeError):
        r.providers["deepseek-r1"].enabled = False  # type: ignore[misc]
