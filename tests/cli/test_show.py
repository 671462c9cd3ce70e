"""``show`` prints the composed configuration as it was written: a model as its vendor declares
it, and a ``models:`` patch beside it, not merged into the vendor's entry by validation."""

from __future__ import annotations

import yaml

from resolver.cli import main


def test_a_patched_model_is_shown_as_declared_and_patched_apart(capsys) -> None:
    """In staging, which re-enables kimi-k2.5-syn through a models: patch, show prints the
    vendor's entry still disabled with its reason, and the patch under models:."""
    assert main(["show", "--env", "staging"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    declared = shown["providers"]["synthetic"]["models"]["kimi-k2.5-syn"]
    assert (declared["enabled"], declared["disabled_reason"]) == (False, "30 s timeouts")
    assert shown["models"]["kimi-k2.5-syn"] == {"enabled": True, "disabled_reason": None}
