"""Resolver.static_chain: the backups a call could ever use, whatever this machine's keys."""

from resolver import load


def test_static_chain_ignores_unset_keys_and_leaves_out_disabled_backups():
    """static_chain lists every enabled backup in chain order even with no key set, and never a
    disabled one."""
    r = load(
        env="prod",
        overrides=[
            "++fallbacks={deepseek-r1-0528-syn: [deepseek-r1, glm-4.6-syn, deepseek-v3.1]}",
            "policy.max_attempts=4",
        ],
    )
    assert r.get_fallback_chain("deepseek-r1-0528-syn", environ={}) == ()
    assert [p.id for p in r.static_chain("deepseek-r1-0528-syn")] == [
        "deepseek-r1",
        "deepseek-v3.1",
    ]
    assert r.static_chain("qwen3-235b-thinking-syn") == ()  # a disabled source: inert
    assert r.static_chain("no-such-model") == ()
