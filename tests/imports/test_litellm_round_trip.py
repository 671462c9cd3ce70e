"""The round trip through a real ``litellm.Router``: each corpus file with fallbacks is imported,
exported back to LiteLLM, and both files are read by LiteLLM itself
(tests/imports/litellm_dump.py, in LiteLLM's own venv). They agree on the model groups, each
group's deployments with their weights (as LiteLLM's shuffle reads them), order and limits, and
all three fallback maps; every difference is one the import named."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from resolver import load
from resolver.export import export
from resolver.export.from_litellm import from_litellm, write

from .conftest import CORPUS, variables

LITELLM_PY = os.environ.get("RESOLVER_TEST_LITELLM_PY", "")
DUMP = Path(__file__).parent / "litellm_dump.py"
LISTS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")

pytestmark = pytest.mark.skipif(
    not LITELLM_PY or not Path(LITELLM_PY).exists(),
    reason="no LiteLLM venv: set RESOLVER_TEST_LITELLM_PY to its python (.ci/run builds one)",
)


def _has_fallbacks(path: Path) -> bool:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "model_list" not in data:
        return False
    settings = {**(data.get("litellm_settings") or {}), **(data.get("router_settings") or {})}
    return any(settings.get(name) for name in (*LISTS, "default_fallbacks"))


WITH_FALLBACKS = [p for p in CORPUS if _has_fallbacks(p)]


@pytest.fixture(scope="module")
def round_trips(tmp_path_factory):
    """path -> (LiteLLM's reading of the original, of the round trip, the import)."""
    out = tmp_path_factory.mktemp("round_trips")
    imports, files = {}, []
    for i, path in enumerate(WITH_FALLBACKS):
        imported = from_litellm(path.read_text(encoding="utf-8"), source=str(path), env="rt")
        imports[path] = imported
        if not imported.carried:  # nothing to export: every deployment was named instead
            continue
        conf = out / f"conf{i}"
        write(imported, conf)
        with variables(imported.variables):
            r = load(env="rt", config_dirs=[conf])
        again = out / f"again{i}.yaml"
        again.write_text(export(r, "litellm").text, encoding="utf-8")
        files += [str(path), str(again)]
    env = {"PATH": os.environ.get("PATH", ""), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [LITELLM_PY, str(DUMP), *files], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(files), done.stdout[-2000:]
    readings = iter(lines)
    return {
        path: (next(readings), next(readings), imported)
        if imported.carried
        else (None, None, imported)
        for path, imported in imports.items()
    }


def _shares(deployments: list[dict]) -> list[float]:
    """Each deployment's share of a group's calls under LiteLLM's simple-shuffle."""
    for metric in ("weight", "rpm", "tpm"):
        values = [float(d.get(metric) or 0.0) for d in deployments]
        if max(values, default=0.0) > 0:
            return sorted(round(v / sum(values), 6) for v in values)
    return sorted(round(1 / len(deployments), 6) for _ in deployments)


def _effective(reading: dict, name: str) -> dict[str, list[str]]:
    """A list as LiteLLM applies it: default_fallbacks serve a group without its own."""
    lists = dict(reading[name])
    if name == "fallbacks" and reading["default_fallbacks"]:
        for group in reading["groups"]:
            lists.setdefault(group, [t for t in reading["default_fallbacks"] if t != group])
    return {s: t for s, t in lists.items() if t}


def _named(imported, *words: str) -> bool:
    return any(all(w in line for w in words) for line in imported.not_carried)


assert len(WITH_FALLBACKS) >= 9, "the corpus has fewer files with fallbacks than expected"


@pytest.mark.parametrize("path", WITH_FALLBACKS, ids=lambda p: p.name.split("__")[1])
def test_litellm_reads_the_round_trip_as_it_reads_the_original(path, round_trips):
    """Groups, deployments (shares, order, limits) and the three fallback maps agree between
    the original and the round trip, as a real litellm.Router reads them; what the import left
    out is named, and nothing is widened."""
    original, again, imported = round_trips[path]
    if original is None:
        assert imported.not_carried  # every deployment named, none imported
        return
    assert "error" not in original, original
    assert "error" not in again, again
    for group in original["groups"]:
        if group not in again["groups"]:
            assert _named(imported, repr(group)) or not original["deployments"][group], group
            continue
        theirs, ours = original["deployments"][group], again["deployments"][group]
        if len(theirs) != len(ours):  # some deployments were left out, and said so
            assert _named(imported, f"({group!r})"), group
            continue
        assert _shares(ours) == _shares(theirs), group
        for key in ("order", "rpm", "tpm"):
            assert sorted(str(d[key]) for d in ours) == sorted(str(d[key]) for d in theirs)
    for name in LISTS:
        theirs, ours = _effective(original, name), _effective(again, name)
        for source, targets in ours.items():  # no widening: every edge written was there
            assert all(t in theirs.get(source, []) for t in targets), (name, source, targets)
        for source, targets in theirs.items():
            kept = ours.get(source, [])
            for target in targets:
                if target not in kept:
                    assert _named(imported, repr(source)) or _named(imported, repr(target)), (
                        name,
                        source,
                        target,
                    )
            assert kept == [t for t in targets if t in kept], (name, source)  # same order
