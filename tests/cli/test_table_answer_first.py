"""The table puts its answer first: the models with something to say (backups, a group's
members), then one line counting the models without backups. `--all` lists every row, and
`--json` always has every model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import resolver
from resolver import Resolver, load
from resolver.cli import main

NONE = "no fallbacks configured"
# Two shipped models made an ordered group (the same member order on every run), with no
# fallbacks of its own.
GROUP = "++groups={llama: {strategy: ordered, members: {llama-3.3-70b-turbo: {}, cogito-70b: {}}}}"


def table(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """Run the CLI in-process; its exit code and stdout lines with runs of spaces folded (the
    column widths depend on which rows are shown)."""
    code = main(list(args))
    out = capsys.readouterr().out
    return code, [" ".join(line.split()) for line in out.splitlines()]


def listed(r: Resolver) -> list[str]:
    """The ids the table explains: enabled models and enabled groups, sorted."""
    enabled = [p.id for p in r.providers.values() if p.enabled]
    return sorted([*enabled, *(g for g in r.groups if r.nodes[g].enabled)])


def without_backups(r: Resolver) -> list[str]:
    return [m for m in listed(r) if r.explain(m).summary == NONE and not r.explain(m).members]


def count_line(hidden: int, *, more: bool = True) -> str:
    models = "model has" if hidden == 1 else "models have"
    return f"{hidden}{' more' if more else ''} {models} {NONE} (--all lists them)"


def test_default_table_lists_backed_models_then_one_count_line(capsys):
    """On the shipped prod env, the default table has a row only for the models with backups,
    then one line counting the others; it is shorter than --all."""
    r = load()
    hidden = without_backups(r)
    code, lines = table(capsys)
    assert code == 0
    rows = lines[2 : lines.index(count_line(len(hidden)))]
    assert {row.split()[0] for row in rows} == set(listed(r)) - set(hidden)
    assert not any(NONE in line for line in lines if line != count_line(len(hidden)))
    _, every = table(capsys, "--all")
    assert len(lines) == len(every) - len(hidden) + 1 < len(every)


@pytest.mark.parametrize(
    "args",
    [
        ("--env", "dev"),
        ("--env", "staging"),
        ("table", "--env", "prod"),
        ("table", "--assume-down", "deepseek-r1"),
        ("table", "--assume-unset", "SYNTHETIC_API_KEY", "--fallback", "llama-4-scout=gpt-oss-20b"),
        ("table", GROUP),
    ],
)
def test_all_is_the_full_listing_and_the_default_drops_only_the_empty_rows(capsys, args):
    """With --all every enabled model has its rows; without it, the same text less the rows
    that only say "no fallbacks configured", which one count line replaces. So for every env,
    what-if flag and model flag."""
    code, every = table(capsys, *args, "--all")
    assert code == 0
    models = [line.split()[0] for line in every]
    empty = [
        line
        for line, model in zip(every, models, strict=True)
        if line.endswith(f" - - - {NONE}") and models.count(model) == 1
    ]
    assert empty
    answer = [line for line in every if line not in empty]
    after_rows = next(
        i
        for i, line in enumerate(answer)
        if line.startswith("budget ") or "disabled model(s) not shown" in line
    )
    answer.insert(after_rows, count_line(len(empty)))
    assert table(capsys, *args) == (0, answer)


def test_all_has_a_row_for_every_enabled_model(capsys):
    """--all lists each enabled model of the loaded resolver, in sorted order."""
    r = load(env="staging")
    _, lines = table(capsys, "--all", "--env", "staging")
    models = list(dict.fromkeys(line.split()[0] for line in lines[2:-1]))
    assert models == listed(r)


def test_json_is_every_model_with_or_without_all(capsys):
    """--json has every enabled model of the loaded resolver, as before; --all changes nothing."""
    r = load()
    code = main(["--json"])
    plain = capsys.readouterr().out
    assert code == 0
    assert [m["model_id"] for m in json.loads(plain)["models"]] == listed(r)
    assert main(["--json", "--all"]) == 0
    assert capsys.readouterr().out == plain


def test_own_config_counts_the_models_without_backups(capsys, own_tree):
    """In a tree of the test's own (think falls back, plain and spare do not, retired is
    disabled), the table shows think's hops and counts plain and spare."""
    code, lines = table(capsys, "--config-path", str(own_tree))
    assert code == 0
    assert lines[0] == "env prod: 3 enabled models, 1 with backups"
    assert [line.split()[:3] for line in lines[1:4]] == [
        ["MODEL", "HOP", "BACKUP"],
        ["think", "1", "plain"],
        ["think", "1", "spare"],
    ]
    assert lines[4] == count_line(2)
    assert lines[5].startswith("1 disabled model(s) not shown")
    assert len(lines) == 6


def test_one_model_without_backups_is_counted_in_the_singular(capsys, own_tree):
    """A --fallback giving plain a backup leaves one model without: the line says so."""
    _, lines = table(capsys, "--config-path", str(own_tree), "--fallback", "plain=spare")
    assert [line.split()[:3] for line in lines[2:5]] == [
        ["plain", "1", "spare"],
        ["think", "1", "plain"],
        ["think", "1", "spare"],
    ]
    assert lines[5] == count_line(1)


def test_with_no_backups_anywhere_only_the_count_is_shown(capsys, own_tree):
    """When no model has backups, there is no table header, only the count of them all."""
    _, lines = table(capsys, "--config-path", str(own_tree), "--fallback", "think=")
    assert lines[0] == "env prod: 3 enabled models, 0 with backups"
    assert lines[1] == count_line(3, more=False)
    assert not any(line.startswith("MODEL") for line in lines)


def test_a_deployment_dir_with_some_backups_is_counted_right(capsys, config_tree):
    """A config dir adding edges to the shipped catalog: its backed models are listed, and the
    count is every other enabled model of the loaded resolver."""
    root = config_tree(
        {
            "env/canary.yaml": """
                # @package _global_
                fallbacks:
                  llama-4-scout: [llama-4-maverick]
                  gemma-3n-e4b: [llama-3.2-3b-turbo, llama-3.1-8b-turbo]
                """
        }
    )
    r = load(env="canary", config_dirs=[root])
    args = ("--env", "canary", "--config-dir", str(root))
    _, lines = table(capsys, *args)
    hidden = without_backups(r)
    assert len(hidden) == len(listed(r)) - 4
    assert count_line(len(hidden)) in lines
    shown = {line.split()[0] for line in lines[2 : lines.index(count_line(len(hidden)))]}
    assert {"llama-4-scout", "gemma-3n-e4b"} <= shown
    assert shown.isdisjoint(hidden)


def test_a_group_without_fallbacks_still_shows_its_members(capsys):
    """A group has something to say without backups (which member a call takes now), so it
    keeps all its rows, "no fallbacks configured" with them, and is not counted."""
    _, lines = table(capsys, GROUP)
    rows = [line for line in lines if line.startswith("llama ")]
    assert [row.split()[1] for row in rows] == ["member", "member", "-"]
    assert rows[2].endswith(NONE)
    hidden = without_backups(load(overrides=[GROUP]))
    assert "llama" not in hidden
    assert count_line(len(hidden)) in lines


def test_table_takes_one_env(capsys):
    """The table is of one env: a list of envs is refused (exit 2), as for every command but
    validate."""
    assert main(["table", "--env", "dev,prod"]) == 2
    assert "only `validate` takes several envs" in capsys.readouterr().err


def test_help_names_all(capsys):
    """`table --help` says what --all does."""
    assert main(["table", "--help"]) == 0
    assert "--all" in capsys.readouterr().out


def test_python_m_resolver_prints_the_answer_first(tmp_path, capsys):
    """`python -m resolver`, the README's first command, prints the same answer-first table as
    the default command, without a traceback."""
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(Path(resolver.__file__).parent.parent),
    }
    done = subprocess.run(
        [sys.executable, "-m", "resolver"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert main([]) == 0
    assert done.stdout == capsys.readouterr().out
    assert count_line(len(without_backups(load()))) in done.stdout.splitlines()
