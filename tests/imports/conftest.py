"""Imports of LiteLLM configs: the corpus of other people's files, and the loader's view."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CORPUS = sorted((Path(__file__).parent.parent / "export" / "litellm_corpus").glob("*.yaml"))


@contextmanager
def variables(names: tuple[str, ...]) -> Iterator[None]:
    """The variables an imported config reads, set to placeholders while it is loaded."""
    unset = [n for n in names if n not in os.environ]
    os.environ.update({n: "https://placeholder.invalid/v1" for n in unset})
    try:
        yield
    finally:
        for name in unset:
            del os.environ[name]
