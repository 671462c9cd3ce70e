"""What-if: explain and table under assumed outages, unset keys and spent budgets, with no call
made and no state changed; the chain is the one a real outage gives."""

from __future__ import annotations

import pytest

import resolver
from resolver.testing import ChatServer
from resolver.whatif import assuming

KEYS = ChatServer.environ()
SOURCE = "deepseek-r1-0528-syn"
EDGES = f"++fallbacks={{{SOURCE}: [deepseek-r1, kimi-k2-instruct, qwen3-235b-instruct]}}"


def chain(e: resolver.Explanation) -> list[tuple[str, str]]:
    return [(step.provider_id, step.status) for step in e.steps]


@pytest.mark.parametrize("down", [["deepseek-r1"], ["deepseek-r1", "kimi-k2-instruct"]])
def test_assumed_down_gives_the_chain_a_real_outage_gives(down):
    """Assuming models down explains the same chain as taking them out of rotation for real,
    and leaves the real health untouched."""
    r = resolver.load("prod", [EDGES], environ=KEYS)
    assumed, env = assuming(r, down=down, environ=KEYS)
    real = r.with_health()
    for model_id in down:
        for _ in range(real.policy.health.failure_threshold):
            real.health.record_failure(model_id, "server")
    expected = real.explain(SOURCE, environ=KEYS)
    got = assumed.explain(SOURCE, environ=env)
    assert chain(got) == chain(expected)
    assert got.chosen == expected.chosen
    assert all(r.health.state(m).in_rotation for m in down)


def test_assumed_unset_keys_skip_the_models_that_read_them():
    """Assuming a key variable unset skips every backup that reads it, naming the variable."""
    r = resolver.load("prod", [EDGES], environ=KEYS)
    assumed, env = assuming(r, unset=["TOGETHER_API_KEY"], environ=KEYS)
    got = assumed.explain(SOURCE, environ=env)
    skipped = [s for s in got.steps if s.status == "skipped"]
    assert {s.provider_id for s in skipped} == {"deepseek-r1", "kimi-k2-instruct",
                                                 "qwen3-235b-instruct"}  # fmt: skip
    assert all("TOGETHER_API_KEY" in s.reason for s in skipped)


def test_an_assumed_spent_budget_passes_its_models_over_and_a_real_one_does_too():
    """A budget assumed spent skips the models it covers in explain; a budget spent for real
    (no room for a reference call) is explained the same way."""
    budget = "++budgets={r1: {model: deepseek-r1, amount: 1, window: day}}"
    r = resolver.load("prod", [EDGES, budget], environ=KEYS)
    assumed, env = assuming(r, spent=["r1"], environ=KEYS)
    got = assumed.explain(SOURCE, environ=env)
    assert got.chosen == "kimi-k2-instruct"
    (step,) = [s for s in got.steps if s.provider_id == "deepseek-r1"]
    assert step.status == "skipped"
    assert "r1" in step.reason
    hold = r.ledger.reserve([r.budgets["r1"]], 1_000_000, 60)
    assert not isinstance(hold, resolver.catalog.Budget)
    assert r.explain(SOURCE, environ=KEYS).chosen == "kimi-k2-instruct"
    r.ledger.release(hold)
    assert r.explain(SOURCE, environ=KEYS).chosen == "deepseek-r1"


def test_unknown_names_are_all_refused_at_once_with_suggestions():
    """Every id that is not the config's is named in one error, with a suggestion."""
    r = resolver.load("prod", environ=KEYS)
    with pytest.raises(ValueError, match="deepseek-r2") as caught:
        assuming(r, down=["deepseek-r2"], unset=["TOGETHER_KEY"], spent=["nope"], environ=KEYS)
    message = str(caught.value)
    assert "--assume-unset 'TOGETHER_KEY'" in message
    assert "TOGETHER_API_KEY" in message
    assert "--assume-spent 'nope'" in message


def test_explain_assume_down_on_the_command_line_says_what_it_assumed(capsys, monkeypatch):
    """`explain --assume-down` prints the assumption, then the chain as it would be, exit 0."""
    from resolver.cli import main

    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    assert main(["explain", SOURCE, "--assume-down", "deepseek-r1", EDGES]) == 0
    out = capsys.readouterr().out
    assert out.startswith("assuming down deepseek-r1 (what-if")
    assert "falls back to 'kimi-k2-instruct'" in out
    assert "deepseek-r1: skipped: out of rotation" in out


def test_bad_what_if_names_exit_2_without_a_traceback(capsys):
    """Unknown ids in what-if flags end in exit 2 with every one named, never a traceback."""
    from resolver.cli import main

    code = main(["table", "--assume-down", "nope", "--assume-spent", "gone"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--assume-down 'nope'" in err
    assert "--assume-spent 'gone'" in err
    assert "Traceback" not in err


def test_table_json_carries_the_assumptions(capsys, monkeypatch):
    """`table --json` under what-if flags names them under "assumed"."""
    import json

    from resolver.cli import main

    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    assert main(["table", "--json", "--assume-unset", "TOGETHER_API_KEY"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["assumed"] == {"down": [], "unset": ["TOGETHER_API_KEY"], "spent": []}
    kimi = next(m for m in data["models"] if m["model_id"] == "kimi-k2-thinking-syn")
    assert kimi["fallback"] is None


def test_explain_and_table_show_each_budgets_spend_held_and_left(capsys, monkeypatch):
    """explain lists the budgets covering its chain with spent, held and left; table lists
    every budget; both say the same in JSON."""
    import json

    from resolver.cli import main

    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    budget = "++budgets={r1: {model: deepseek-r1, amount: 5, window: day}}"
    assert main(["explain", SOURCE, budget]) == 0
    line = "budget r1 (model deepseek-r1: 5 USD per day): 0.0000 spent, 0.0000 held, 5.0000 left"
    assert line in capsys.readouterr().out
    assert main(["table", budget]) == 0
    assert line in capsys.readouterr().out
    assert main(["explain", SOURCE, "--json", budget]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["budgets"] == [{"id": "r1", "spent": 0.0, "reserved": 0.0, "left": 5.0}]
