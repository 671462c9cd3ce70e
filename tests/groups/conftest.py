"""Model groups composed from a deployment config dir of the test's own, pointed at the
session's loopback ChatServer (its upstream counts are the split a group really made)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from resolver import Resolver, load
from resolver.testing import ChatServer

# Shipped Together models, used as a group's deployments: each has its own model string, so
# the server's requests say which deployment served.
A, B, C = "llama-3.3-70b-turbo", "llama-3-70b-reference", "cogito-70b"
BACKUP = "deepseek-v3.1"


@pytest.fixture
def grouped(tmp_path: Path, chat_server: ChatServer) -> Callable[..., Resolver]:
    """A resolver whose env ``groups`` declares ``body`` (YAML under ``# @package _global_``)."""

    def make(body: str, *overrides: str) -> Resolver:
        root = tmp_path / "deploy"
        (root / "env").mkdir(parents=True, exist_ok=True)
        text = "# @package _global_\n" + textwrap.dedent(body).lstrip()
        (root / "env" / "groups.yaml").write_text(text, encoding="utf-8")
        return load(
            env="groups", config_dirs=[root], overrides=[*chat_server.overrides(), *overrides]
        )

    return make


def model_of(r: Resolver, provider_id: str) -> str:
    return r.providers[provider_id].model
