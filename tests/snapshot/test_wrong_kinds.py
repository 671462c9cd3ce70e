"""A hand-edited snapshot whose hash was recomputed, holding a value of the wrong kind (where a
nested object, a list, a scalar or one of a set of words belongs, or null where a value is
required), is refused at load, naming the file and the key path and saying to compile again,
rather than served with that value in place."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import resolver
from resolver import SnapshotError, load_snapshot, snapshot

REDO = "compile it again from the YAML configuration (fallback-resolver compile -o FILE)"
EDGE = "kimi-k2-thinking-syn"  # the shipped edge policy with an accepted warning
MODEL = "deepseek-r1-0528-syn"
# Where the shipped configuration's snapshot holds an object (a nested dataclass) ...
OBJECTS = [
    ("providers", MODEL, "pricing"),
    ("policy", "cost"),
    ("policy", "health"),
    ("edge_policy", EDGE, "accept", 0),
]
# ... and where it holds a list (a tuple), the optional one left null by the seed included.
LISTS = [
    ("fallbacks", MODEL),
    ("policy", "fallback_on"),
    ("policy", "retry_on"),
    ("policy", "health", "counts"),
    ("edge_policy", EDGE, "accept"),
    ("edge_policy", EDGE, "fallback_on"),
]
SCALARS = st.one_of(
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
NOT_OBJECTS = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
NOT_LISTS = st.one_of(SCALARS, st.dictionaries(st.text(max_size=4), SCALARS, max_size=3))


@functools.cache
def _compiled() -> str:
    return snapshot.to_json(resolver.load())


def _key_path(place: tuple[str | int, ...]) -> str:
    path = ""
    for part in place:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return path


def _rehashed_with(place: tuple[str | int, ...], value: Any) -> str:
    """The shipped snapshot with ``value`` put at ``place`` and the hash recomputed by the
    documented rule (SHA-256 of the sorted compact JSON), as a hand editing it would."""
    content = json.loads(_compiled())
    del content["integrity"]
    node = content
    for part in place[:-1]:
        node = node[part]
    node[place[-1]] = value
    return _rehashed(content)


def _rehashed(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return json.dumps({**content, "integrity": digest})


def _refusal(path: Path, text: str) -> SnapshotError:
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SnapshotError) as caught:
        load_snapshot(path)
    return caught.value


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hand-edited") / "snap.json"


def test_a_list_where_the_health_policy_belongs_is_refused_in_words(path) -> None:
    """A list in place of the health policy is refused, naming the file, the key path, what
    belongs there and what was found, with the command that writes a good snapshot."""
    error = _refusal(path, _rehashed_with(("policy", "health"), ["memory"]))
    assert str(error) == (
        f"snapshot {path}: has content this version cannot read at policy.health: "
        f"HealthPolicy: expected an object, got list (hint: {REDO})"
    )


def test_a_text_where_a_list_of_error_classes_belongs_is_refused(path) -> None:
    """A text in place of the error classes that count against health is refused, not taken
    apart letter by letter."""
    error = _refusal(path, _rehashed_with(("policy", "health", "counts"), "server"))
    assert error.reason == (
        "has content this version cannot read at policy.health.counts: expected a list, got str"
    )
    assert error.hint == REDO


@settings(max_examples=60, deadline=None)
@given(place=st.sampled_from(OBJECTS), value=NOT_OBJECTS)
def test_a_non_object_where_an_object_belongs_is_refused_at_its_key(path, place, value) -> None:
    """Any value that is not an object, put where a nested object belongs, is refused at its
    key path."""
    error = _refusal(path, _rehashed_with(place, value))
    assert error.path == str(path)
    assert error.reason.startswith(f"has content this version cannot read at {_key_path(place)}:")
    assert error.reason.endswith(f"expected an object, got {type(value).__name__}")
    assert error.hint == REDO


@settings(max_examples=60, deadline=None)
@given(place=st.sampled_from(LISTS), value=NOT_LISTS)
def test_a_non_list_where_a_list_belongs_is_refused_at_its_key(path, place, value) -> None:
    """Any value that is not a list, put where a list belongs, is refused at its key path."""
    error = _refusal(path, _rehashed_with(place, value))
    assert error.path == str(path)
    assert error.reason == (
        f"has content this version cannot read at {_key_path(place)}: "
        f"expected a list, got {type(value).__name__}"
    )
    assert error.hint == REDO


def test_a_warning_that_is_not_an_object_is_refused_at_its_index(path) -> None:
    """A recorded warning replaced by a text is refused at its index in the warnings."""
    error = _refusal(path, _rehashed_with(("warnings", 0), "key-unset"))
    assert error.reason == (
        "has content this version cannot read at warnings[0]: Problem: expected an object, got str"
    )


def test_an_unknown_field_of_a_nested_object_is_refused_at_its_key(path) -> None:
    """A field this version does not know, added to the health policy, is refused at the key
    path of the object that holds it, naming the field."""
    error = _refusal(path, _rehashed_with(("policy", "health", "bogus"), 1))
    assert error.reason == (
        "has content this version cannot read at policy.health: "
        "HealthPolicy: unknown fields ['bogus']"
    )
    assert error.hint == REDO


def test_a_snapshot_without_a_section_is_refused_with_the_fix(path) -> None:
    """A snapshot whose fallbacks section was deleted (and the hash recomputed) is refused,
    naming the file and the missing section, with the command that writes a good one."""
    content = json.loads(_compiled())
    del content["fallbacks"], content["integrity"]
    error = _refusal(path, _rehashed(content))
    assert str(error) == (
        f"snapshot {path}: has content this version cannot read: KeyError('fallbacks') "
        f"(hint: {REDO})"
    )


# Scalar fields, the JSON kinds each takes, and how the refusal names what belongs there.
SCALAR_PLACES = [
    (("providers", MODEL, "base_url"), (str,), "text"),
    (("providers", MODEL, "timeout_s"), (int, float), "a number"),
    (("providers", MODEL, "enabled"), (bool,), "true or false"),
    (("policy", "max_depth"), (int,), "a whole number"),
    (("policy", "health", "cooldown_s"), (int, float), "a number"),
    (("edge_policy", EDGE, "accept", 0, "reason"), (str,), "text"),
]
ANY_JSON = st.one_of(
    st.none(),
    SCALARS,
    st.lists(SCALARS, max_size=2),
    st.dictionaries(st.text(max_size=4), SCALARS, max_size=2),
)


@settings(max_examples=80, deadline=None)
@given(case=st.sampled_from(SCALAR_PLACES), value=ANY_JSON)
def test_a_scalar_of_the_wrong_kind_is_refused_at_its_key(path, case, value) -> None:
    """Any JSON value that is not of its field's kind (a text for a number, true for a whole
    number, null where a value is required...) is refused at its key path."""
    place, kinds, what = case
    assume(type(value) not in kinds)
    error = _refusal(path, _rehashed_with(place, value))
    expected, got = ("a value", "null") if value is None else (what, type(value).__name__)
    assert error.reason == (
        f"has content this version cannot read at {_key_path(place)}: "
        f"expected {expected}, got {got}"
    )
    assert error.hint == REDO


@settings(max_examples=30, deadline=None)
@given(seconds=st.one_of(st.integers(1, 600), st.floats(0.5, 600)))
def test_a_whole_number_where_seconds_belong_loads_as_written(path, seconds) -> None:
    """A number of seconds written as a whole number or a fraction is read as it is: the
    checks refuse wrong kinds, not the values YAML validation accepts."""
    path.write_text(_rehashed_with(("providers", MODEL, "timeout_s"), seconds), encoding="utf-8")
    assert load_snapshot(path).providers[MODEL].timeout_s == seconds


def test_null_where_an_object_belongs_is_refused(path) -> None:
    """null in place of a model's pricing is refused: only fields that may be unset take null."""
    error = _refusal(path, _rehashed_with(("providers", MODEL, "pricing"), None))
    assert error.reason == (
        f"has content this version cannot read at providers.{MODEL}.pricing: "
        "expected a value, got null"
    )


def test_null_where_a_field_may_be_unset_loads(path) -> None:
    """null for a model's context window (a field the YAML may leave unset) loads as unset."""
    path.write_text(_rehashed_with(("providers", MODEL, "context_window"), None), encoding="utf-8")
    assert load_snapshot(path).providers[MODEL].context_window is None


def test_a_word_outside_its_set_is_refused_naming_the_words(path) -> None:
    """A health store other than memory or redis is refused, naming the words that belong."""
    error = _refusal(path, _rehashed_with(("policy", "health", "store"), "memcached"))
    assert error.reason == (
        "has content this version cannot read at policy.health.store: "
        "expected one of 'memory', 'redis', got 'memcached'"
    )


def test_a_list_item_of_the_wrong_kind_is_refused_at_its_index(path) -> None:
    """An error class that does not exist, among those a retry is for, is refused at its
    index; so is a backup named by a number instead of a model id."""
    error = _refusal(path, _rehashed_with(("policy", "retry_on"), ["server", "sever"]))
    assert error.reason.startswith(
        "has content this version cannot read at policy.retry_on[1]: expected one of "
    )
    assert error.reason.endswith(", got 'sever'")
    error = _refusal(path, _rehashed_with(("fallbacks", MODEL), [7]))
    assert error.reason == (
        f"has content this version cannot read at fallbacks.{MODEL}[0]: expected text, got int"
    )


def test_null_for_the_policy_is_refused_in_json_words(path) -> None:
    """null in place of the whole policy is refused saying null, the snapshot's own word, not
    Python's NoneType."""
    error = _refusal(path, _rehashed_with(("policy",), None))
    assert error.reason == (
        "has content this version cannot read at policy: Policy: expected an object, got null"
    )
