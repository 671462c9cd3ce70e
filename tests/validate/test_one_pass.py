"""One wrong entry never hides the entries after it: validation goes on past a bad vendor, a
bad model id, a model declared twice or a patch for an unknown model, and reports the next
entry's own problem in the same pass."""

from __future__ import annotations

import pytest

import resolver
from resolver import ConfigError

MODEL = "{model: m, tier: budget, pricing: {prompt: 1, completion: 2}}"
BAD_PRICE = "{model: l, tier: budget, pricing: {prompt: -1, completion: 2}}"
VENDOR = "  base_url: http://127.0.0.1:9/v1\n  api_key_env: null\n  models:\n"
# A vendor after the first one, and a model after the bad one in the same vendor, each with a
# problem of its own that must be reported whatever came before it.
LAST_VENDOR = f"zlast:\n{VENDOR}    late: {BAD_PRICE}\n"
LATER = ("bad-value", "providers.zlast.models.late.pricing.prompt")
NEXT_MODEL = f"    next: {BAD_PRICE}\n"
NEXT = ("bad-value", "providers.aa.models.next.pricing.prompt")

FIRST = {
    "vendor-not-a-mapping": ("aa: 3\n", [("wrong-type", "providers.aa"), LATER]),
    "vendor-named-yes": (f"yes:\n{VENDOR}", [("bad-model-id", "providers[True]"), LATER]),
    "model-id-with-spaces": (
        f"aa:\n{VENDOR}    ' m ': {MODEL}\n{NEXT_MODEL}",
        [("bad-model-id", "providers.aa.models. m "), NEXT, LATER],
    ),
    "model-declared-twice": (
        f"aa:\n{VENDOR}    think: {MODEL}\n{NEXT_MODEL}",
        [("duplicate-id", "providers.aa.models.think"), NEXT, LATER],
    ),
}


@pytest.mark.parametrize(("first", "problems"), FIRST.values(), ids=FIRST.keys())
def test_a_bad_entry_does_not_hide_the_next_ones_problem(own_tree, first, problems) -> None:
    """A bad vendor or model entry is reported, and so are the problems of the model and the
    vendor after it."""
    (own_tree / "providers" / "extra.yaml").write_text(first + LAST_VENDOR, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolver.load(config_path=own_tree, overrides=["providers=[keyed,open,extra]"], environ={})
    found = {(p.code, p.key) for p in info.value.errors}
    assert set(problems) <= found


def test_a_patch_for_an_unknown_model_does_not_hide_the_next_patch(own_tree) -> None:
    """A per-model patch for an unknown id is reported, and so is a bad value in the patch
    after it."""
    with pytest.raises(ConfigError) as info:
        resolver.load(
            config_path=own_tree,
            overrides=["++models={ghost: {timeout_s: 3}, think: {timeout_s: -1}}"],
            environ={},
        )
    found = {(p.code, p.key) for p in info.value.errors}
    assert found == {("unknown-model", "models.ghost"), ("bad-value", "models.think.timeout_s")}
