"""docs/cli.md is true of every command, read from the parser the command line itself builds
(`resolver.cli.build_parser`), not from a list kept by hand.

Each command has a section `## NAME`. Its section names every long option the command takes,
and names no option the command does not take (a line that runs another command, such as an
example that validates what `import` wrote, is that command's business). The table "Commands at
a glance" says which commands take `--json`, `--env` and `--config-dir`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from resolver import cli

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
_, PARSERS = cli.build_parser()
COMMANDS = list(PARSERS)
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# Arguments each command needs before an option can be judged (argparse wants its positionals).
_POSITIONALS = {
    "lookup": ["deepseek-r1-0528-syn"],
    "explain": ["deepseek-r1-0528-syn"],
    "diff": ["prod", "staging"],
    "export": ["--format", "litellm"],
    "import": ["--from", "litellm", "config.yaml", "-o", "out"],
}


def _options(command: str) -> set[str]:
    """Every option string of the command, --help included."""
    return {s for a in PARSERS[command]._actions for s in a.option_strings}


def _long_options(command: str) -> set[str]:
    return {s for s in _options(command) if s.startswith("--")} - {"--help"}


def _sections() -> dict[str, str]:
    """The text under each `## ` heading, by heading (backquotes dropped)."""
    parts = re.split(r"^## (.+)$", PAGE.read_text(encoding="utf-8"), flags=re.M)
    pairs = zip(parts[1::2], parts[2::2], strict=True)
    return {heading.strip().strip("`"): body for heading, body in pairs}


def _runs(line: str) -> str | None:
    """The command a line of an example runs (`table` when it names none), or None when it runs
    neither `fallback-resolver` nor `python -m resolver`."""
    found = re.search(r"(?:fallback-resolver|python -m resolver)(?![\w.-])(.*)", line)
    if found is None:
        return None
    try:
        words = shlex.split(found[1], comments=True)
    except ValueError:
        words = found[1].split()
    return next((w for w in words if w in PARSERS), "table")


def test_every_command_has_a_section() -> None:
    sections = _sections()
    assert [c for c in COMMANDS if c not in sections] == []


@pytest.mark.parametrize("command", COMMANDS)
def test_each_option_is_named_in_its_section(command: str) -> None:
    """Every long option the command takes appears in its section."""
    named = set(_FLAG.findall(_sections()[command]))
    assert sorted(_long_options(command) - named) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_each_option_named_exists(command: str) -> None:
    """Every `--flag` the section names is an option of that command, except on lines that run
    another command."""
    wrong = []
    for line in _sections()[command].splitlines():
        runs = _runs(line)
        if runs is not None and runs != command:
            continue
        wrong += [f for f in _FLAG.findall(line) if f not in _options(command)]
    assert wrong == []


def _glance() -> dict[str, dict[str, str]]:
    """The "Commands at a glance" table: command -> column -> the cell's first word."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in _sections()["Commands at a glance"].splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ]
    header, *body = rows
    table = {}
    for row in body:
        command = re.search(r"`([\w-]+)`", row[0])
        assert command is not None, row
        table[command[1]] = {
            name.strip("`"): cell.split()[0].strip(",:")
            for name, cell in zip(header, row, strict=True)
            if name.startswith("`--")
        }
    return table


def _refuses_env(command: str, capsys: pytest.CaptureFixture[str]) -> bool:
    """Whether the command, given `--env prod`, stops with an error that names --env."""
    code = cli.main([command, *_POSITIONALS.get(command, []), "--env", "prod"])
    errors = capsys.readouterr().err.strip().splitlines()
    return code == 2 and "--env" in errors[-1]


def test_the_table_lists_every_command() -> None:
    assert sorted(_glance()) == sorted(COMMANDS)


@pytest.mark.parametrize("flag", ["--json", "--env", "--config-dir"])
@pytest.mark.parametrize("command", COMMANDS)
def test_the_table_says_who_takes_the_flag(
    command: str, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`yes` when the command takes the flag: its parser has it and, for `--env`, the command
    does not refuse it when run (`diff` compares the two envs it is given). `serve` is not run:
    it would serve."""
    said = _glance()[command][flag]
    assert said in ("yes", "no"), f"{command}: {flag} cell should start with yes or no"
    takes = flag in _options(command)
    if takes and flag == "--env" and command != "serve":
        takes = not _refuses_env(command, capsys)
    assert (said == "yes") == takes, f"{command} {'takes' if takes else 'takes no'} {flag}"


def test_the_configuration_options_are_every_configuring_commands() -> None:
    """The options of "Configuration options" are taken by each command that composes."""
    named = set(_FLAG.findall(_sections()["Configuration options"]))
    common = {"--env", "--config-dir", "--config-path", "--fallback", "--disable", "--enable"}
    assert common <= named
    for command in COMMANDS:
        if "--config-path" in _options(command):  # the commands that compose a configuration
            assert sorted(named - _options(command)) == [], command
