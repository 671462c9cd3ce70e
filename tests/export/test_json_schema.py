"""The JSON Schema export, checked by the `jsonschema` validator against what `compile` writes."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolver.cli import main
from resolver.export.schema import snapshot_schema

SCHEMA = snapshot_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def compiled(tmp_path, *args: str) -> dict[str, Any]:
    out = tmp_path / "snapshot.json"
    assert main(["compile", "-o", str(out), *args]) == 0
    return json.loads(out.read_text())


def test_the_schema_is_a_valid_draft_2020_12_schema(capsys):
    """`export --format json-schema` prints a schema the reference validator accepts."""
    assert main(["export", "--format", "json-schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(printed)
    assert printed == SCHEMA


@pytest.mark.parametrize(
    "args",
    [
        ("--env", "dev"),
        ("--env", "staging"),
        ("--env", "prod"),
        (
            "--env",
            "prod",
            "++edge_policy={deepseek-r1-0528-syn: {fallback_on: [server], max_cost_ratio: 1.5, "
            "note: trial}}",
            "++models={deepseek-r1: {context_window: 64000}}",
            "policy.deadline_s=30",
            "policy.health.store=redis",
        ),
    ],
)
def test_every_snapshot_compile_writes_is_valid(args, tmp_path):
    """Each snapshot `compile` writes, shipped envs and every optional field set, validates."""
    VALIDATOR.validate(compiled(tmp_path, *args))


def _objects(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every JSON object in ``node`` whose keys the schema fixes (not id maps)."""
    found = []
    if isinstance(node, dict):
        if path and path[-1] not in ("providers", "fallbacks", "edge_policy", "origins"):
            found.append(path)
        for k, v in node.items():
            found += _objects(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _objects(v, (*path, i))
    return found


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, (*path, i))]
    return [path]


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> dict[str, Any]:
    return compiled(tmp_path_factory.mktemp("snap"), "--env", "staging")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_damaged_snapshot_is_refused(snapshot, data):
    """A snapshot with a field removed, an unknown field added, or a value replaced by an
    object fails validation."""
    damaged = copy.deepcopy(snapshot)
    how = data.draw(st.sampled_from(["remove", "add", "replace"]))
    if how == "replace":
        path = data.draw(st.sampled_from(_leaves(damaged)))
        _at(damaged, path[:-1])[path[-1]] = {"damaged": True}
    else:
        objects = [(), *_objects(damaged)]
        if how == "remove":  # an empty object (no groups) has nothing to remove
            objects = [p for p in objects if _at(damaged, p)]
        path = data.draw(st.sampled_from(objects))
        target = _at(damaged, path)
        if how == "remove":
            del target[data.draw(st.sampled_from(sorted(target)))]
        else:
            name = data.draw(st.text(min_size=1).filter(lambda k: k not in target))
            target[name] = 1
    assert not VALIDATOR.is_valid(damaged), (how, path)
