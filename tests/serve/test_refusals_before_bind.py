"""`fallback-resolver serve` refuses what it cannot serve before it binds anything: exit 2, one
message saying what to change, no traceback."""

from __future__ import annotations

import pytest

from resolver.cli import main


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--snapshot", "fallbacks.json", "--env", "dev"], "drop --env"),
        (["--snapshot", "fallbacks.json", "policy.max_depth=1"], "compile them into the snapshot"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--max-messages", "0"], "--max-messages must be at least 1"),
        (["--max-depth", "0"], "--max-depth must be at least 1"),
        (["--max-connections", "-3"], "--max-connections must be at least 1"),
        (["--header-timeout-s", "0"], "--header-timeout-s must be a positive number"),
        (["--body-timeout-s", "nan"], "--body-timeout-s must be a positive number"),
        (["--keep-alive-s", "inf"], "--keep-alive-s must be a positive number"),
        (["--grace-s", "-1"], "--grace-s must be 0 or more seconds"),
    ],
)
def test_contradictory_options_are_refused(argv, expected, capsys):
    """Options that contradict each other or cannot work exit 2 naming the option."""
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err


def test_a_config_that_does_not_load_stops_serve(config_tree, capsys):
    """A deployment config with an error stops `serve` with exit 2 and the problem named, as
    every command does, before anything listens."""
    deploy = config_tree({"fallbacks/seed.yaml": "deepseek-r1-0528-syn: [no-such-model]\n"})

    assert main(["serve", "--config-dir", str(deploy)]) == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err
    assert "Traceback" not in err


def test_a_snapshot_that_does_not_load_stops_serve(tmp_path, capsys):
    """A snapshot file that is not one stops `serve` with exit 2, naming the file."""
    path = tmp_path / "fallbacks.json"
    path.write_text("{}", encoding="utf-8")

    assert main(["serve", "--snapshot", str(path)]) == 2
    assert str(path) in capsys.readouterr().err
