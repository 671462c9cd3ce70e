"""The command line, as operators and CI run it.

Subprocess tests cover what only a real process shows (exit codes, no tracebacks, --help, files
written); the rest call ``resolver.cli.main`` in-process, which is the same code and ten times
faster. Every test runs in an empty working directory and checks that it stays empty.
"""

from __future__ import annotations

import html
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import resolver
from resolver.cli import main

PACKAGE_ROOT = str(Path(resolver.__file__).parent.parent)
KEYS = ("TOGETHER_API_KEY", "SYNTHETIC_API_KEY")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty cwd with no keys or resolver variables set; it must stay empty."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in (*KEYS, "RESOLVER_ENV", "RESOLVER_CONFIG_DIRS", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    yield work
    assert list(work.iterdir()) == [], "the command line wrote into the working directory"


@pytest.fixture
def deploy(tmp_path):
    """A deployment config tree with a `canary` env that adds a dotted-id edge."""
    root = tmp_path / "deploy"
    (root / "env").mkdir(parents=True)
    (root / "env" / "canary.yaml").write_text(
        "# @package _global_\nfallbacks:\n  deepseek-v3.1-terminus-syn: [qwen2.5-7b-turbo]\n"
    )
    return root


def run(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m resolver ARGS`` with exactly the given keys in its environment."""
    environ = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": PACKAGE_ROOT, **env}
    done = subprocess.run(
        [sys.executable, "-m", "resolver", *args],
        cwd=workdir,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- subprocess: exit codes, messages, --help, console behaviour -------------------------------


def test_lookup_prints_the_backup_and_exits_0(workdir):
    """`lookup` prints only the backup's id when its key variable is set."""
    done = run(workdir, "lookup", "deepseek-r1-0528-syn", TOGETHER_API_KEY="x")
    assert (done.returncode, done.stdout, done.stderr) == (0, "deepseek-r1\n", "")


def test_lookup_without_a_usable_backup_exits_1_with_one_line_saying_why(workdir):
    """When the only backup's key is unset, lookup exits 1 and says so in one stderr line."""
    done = run(workdir, "lookup", "deepseek-r1-0528-syn")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "deepseek-r1: key variable TOGETHER_API_KEY is not set" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["foo=1"], "there is no key 'foo' to override"),
        (["policy.max_depth=["], "malformed-override"),
        (["--env", "nope"], "there is no env 'nope'"),
        (["lookup", "deepseek-r1-0528"], "did you mean 'deepseek-r1-0528-syn'?"),
        (["--disable", "kimi-k2.6-syn"], "--disable kimi-k2.6-syn: models.kimi-k2.6-syn"),
        (["--fallback", "kimi-k2.5-syn=kimi-k2-instrct"], "did you mean 'kimi-k2-instruct'?"),
        (["--fallback", "kimi-k2.5-syn"], "expected MODEL=B1,B2"),
        (["--config-dir", "no/such/dir"], "'no/such/dir' is not a directory"),
        (["--config-path", "."], "has no config.yaml"),
        (["lokup", "x"], "did you mean 'lookup'?"),
        (["lookup", "x", "--env", "dev,prod"], "only `validate` takes several envs"),
        (["graph", "--format", "gif"], "invalid choice: 'gif'"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(workdir, args, message):
    """Every bad input exits 2 with a message naming the problem, and never a traceback."""
    done = run(workdir, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


def test_malformed_yaml_in_a_config_dir_names_the_file_and_line(workdir, tmp_path):
    """A broken deployment file is reported by name and line, with exit 2."""
    bad = tmp_path / "bad"
    (bad / "env").mkdir(parents=True)
    (bad / "env" / "broken.yaml").write_text("fallbacks:\n  a: [b\n")
    done = run(workdir, "--config-dir", str(bad), "--env", "broken")
    assert done.returncode == 2
    assert "malformed-yaml" in done.stderr
    assert "broken.yaml" in done.stderr
    assert "(line 3, column 1)" in done.stderr
    done = run(workdir, "validate", "--config-dir", str(bad), "--env", "broken")
    assert done.returncode == 2
    assert f"  {bad / 'env' / 'broken.yaml'}\n    error [malformed-yaml]" in done.stdout


def test_help_shows_commands_and_a_real_example(workdir):
    """`--help` lists every command, and a subcommand's help ends with runnable examples."""
    top = run(workdir, "--help")
    assert top.returncode == 0
    for command in ("table", "lookup", "explain", "validate", "graph", "diff", "show"):
        assert f"    {command} " in top.stdout
    sub = run(workdir, "validate", "--help")
    assert sub.returncode == 0
    assert "fallback-resolver validate --env dev,staging,prod --strict" in sub.stdout


def test_svg_without_graphviz_says_how_to_install_it(workdir, tmp_path):
    """Asking for svg with no `dot` on PATH exits 2 and says how to get Graphviz."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    environ = {"PATH": str(empty), "PYTHONPATH": PACKAGE_ROOT}
    done = subprocess.run(
        [sys.executable, "-m", "resolver", "graph", "--format", "svg"],
        cwd=workdir,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "apt-get install graphviz" in done.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed")
def test_svg_is_rendered_by_graphviz_when_installed(workdir, tmp_path):
    """With Graphviz installed, `graph --format svg -o FILE` writes an SVG naming the models."""
    target = tmp_path / "out" / "graph.svg"
    target.parent.mkdir()
    done = run(workdir, "graph", "--format", "svg", "-o", str(target))
    assert done.returncode == 0, done.stderr
    svg = html.unescape(target.read_text())  # Graphviz writes '-' as &#45;
    assert "<svg" in svg
    assert "deepseek-r1-0528-syn" in svg
    assert "deepseek-r1-0528-syn->deepseek-r1" in svg  # the edge's title


def test_console_script_is_the_same_program(workdir):
    """The `fallback-resolver` console script, installed beside the interpreter running the
    tests, answers like `python -m resolver`."""
    script = Path(sys.executable).parent / "fallback-resolver"
    assert script.is_file(), f"no console script at {script}: pip install the package first"
    done = subprocess.run(
        [str(script), "lookup", "kimi-k2-thinking-syn"],
        cwd=workdir,
        env={"PATH": os.environ.get("PATH", ""), "TOGETHER_API_KEY": "x"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "kimi-k2-instruct\n", "")


def test_nothing_is_written_to_disk_by_any_command(workdir):
    """A run of every command leaves the working directory empty (no outputs/, no .hydra/)."""
    for args in (
        [],
        ["validate", "--env", "dev,staging,prod"],
        ["graph", "--format", "dot"],
        ["show", "--info"],
    ):
        assert run(workdir, *args).returncode == 0
    # the workdir fixture asserts emptiness; also no log file next to the package
    assert not (Path(PACKAGE_ROOT) / "outputs").exists()


# --- in-process: what each command prints -----------------------------------------------------


def test_table_lists_every_enabled_model_sorted_and_ends_with_the_warning_count(
    capsys, workdir, own_tree
):
    """With --all, the default command has one row per hop of each enabled model (sorted, the
    disabled one left out) with why, and ends with the disabled and warning counts."""
    code, out, _ = cli(capsys, "--all", "--config-path", str(own_tree))
    assert code == 0
    downgrade = "cost 0.46x; downgrade: loses reasoning"  # (500*1 + 50*2) / (500*2 + 50*6)
    assert [" ".join(line.split()) for line in out.splitlines()] == [
        "env prod: 3 enabled models, 1 with backups",
        "MODEL HOP BACKUP STATUS WHY",
        "plain - - - no fallbacks configured",
        "spare - - - no fallbacks configured",
        f"think 1 plain skipped key variable OWN_TREE_KEY is not set; {downgrade}",
        f"think 1 spare chosen first usable backup; {downgrade}",
        "1 disabled model(s) not shown; 4 warning(s) (`fallback-resolver validate` lists them)",
    ]


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_table_rows_are_sorted_for_every_shipped_env(capsys, workdir, env):
    """Each shipped env's table lists its models in sorted order under its own name."""
    code, out, _ = cli(capsys, "--env", env, "--all")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"env {env}: ")
    models = [line.split()[0] for line in lines[2:-1]]
    assert models
    assert models == sorted(models)


def test_table_says_why_each_hop_is_or_is_not_usable(capsys, workdir, monkeypatch):
    """A hop shows its status and the reasons: unset key variable, downgrade, cost."""
    code, out, _ = cli(capsys)
    row = next(line for line in out.splitlines() if line.startswith("kimi-k2-thinking-syn"))
    assert "skipped" in row
    assert "key variable TOGETHER_API_KEY is not set" in row
    assert "downgrade: loses reasoning" in row
    monkeypatch.setenv("TOGETHER_API_KEY", "x")
    code, out, _ = cli(capsys, "--json")
    assert code == 0
    data = json.loads(out)
    kimi = next(m for m in data["models"] if m["model_id"] == "kimi-k2-thinking-syn")
    assert (kimi["fallback"], kimi["steps"][0]["status"]) == ("kimi-k2-instruct", "chosen")
    assert kimi["steps"][0]["origin"].endswith("fallbacks/seed.yaml")


def test_staging_enables_kimi_k2_5_and_prod_does_not(capsys, workdir):
    """The shipped staging env adds kimi-k2.5-syn to the table; prod leaves it out."""
    _, staging, _ = cli(capsys, "table", "--env", "staging")
    _, prod, _ = cli(capsys, "table", "--env", "prod")
    assert any(line.startswith("kimi-k2.5-syn ") for line in staging.splitlines())
    assert not any(line.startswith("kimi-k2.5-syn ") for line in prod.splitlines())


def test_options_may_come_before_the_subcommand_and_resolver_env_is_the_default(
    capsys, workdir, monkeypatch
):
    """`--env staging lookup X` works, and RESOLVER_ENV picks the env when --env is absent."""
    monkeypatch.setenv("TOGETHER_API_KEY", "x")
    assert cli(capsys, "--env", "staging", "lookup", "kimi-k2.5-syn")[:2] == (
        0,
        "kimi-k2-instruct\n",
    )
    monkeypatch.setenv("RESOLVER_ENV", "staging")
    assert cli(capsys, "lookup", "kimi-k2.5-syn")[:2] == (0, "kimi-k2-instruct\n")


def test_lookup_json_reports_the_fallback_or_the_reason(capsys, workdir):
    """`lookup --json` gives the backup (or null and why), with the same exit codes."""
    code, out, err = cli(capsys, "lookup", "kimi-k2-thinking-syn", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["fallback"] is None
    assert "TOGETHER_API_KEY" in data["reason"]
    assert err.count("\n") == 1


def test_lookup_of_a_model_without_backups_or_disabled_exits_1(capsys, workdir):
    """A model with no fallbacks, or a disabled one, has no fallback: exit 1 saying which."""
    code, _, err = cli(capsys, "lookup", "llama-4-scout")
    assert (code, "no fallbacks configured" in err) == (1, True)
    code, _, err = cli(capsys, "lookup", "qwen3-235b-thinking-syn")
    assert (code, "disabled (parse failure" in err) == (1, True)


def test_dotted_ids_work_with_every_model_flag(capsys, workdir, monkeypatch):
    """--enable, --disable and --fallback (set and remove) address ids with dots."""
    monkeypatch.setenv("TOGETHER_API_KEY", "x")
    monkeypatch.setenv("SYNTHETIC_API_KEY", "x")
    args = [
        "--enable",
        "kimi-k2.5-syn",
        "--fallback",
        "deepseek-v3.1-terminus-syn=qwen2.5-7b-turbo,kimi-k2.5-syn",
        "--disable",
        "qwen2.5-7b-turbo",
    ]
    code, out, _ = cli(capsys, "lookup", "deepseek-v3.1-terminus-syn", *args)
    assert (code, out) == (0, "kimi-k2.5-syn\n")
    code, out, _ = cli(capsys, "explain", "deepseek-v3.1-terminus-syn", *args)
    assert "qwen2.5-7b-turbo: skipped: disabled (set by --disable)" in out
    assert "edge declared in --fallback deepseek-v3.1-terminus-syn=" in out
    code, _, err = cli(
        capsys, "lookup", "kimi-k2.5-syn", "--env", "staging", "--fallback", "kimi-k2.5-syn="
    )
    assert (code, "no fallbacks configured" in err) == (1, True)
    code, _, err = cli(
        capsys, "lookup", "kimi-k2.5-syn", "--env", "staging", "--disable", "kimi-k2.5-syn"
    )
    assert (code, "disabled (set by --disable)" in err) == (1, True)


def test_trailing_hydra_overrides_apply_after_the_flags(capsys, workdir):
    """key=value, +key=value and ~key overrides change what explain reports."""
    args = ["explain", "kimi-k2.5-syn", "--env", "staging", "--fallback"]
    args.append("kimi-k2.5-syn=kimi-k2-thinking-syn")
    _, deep, _ = cli(capsys, *args)
    assert "hop 2: kimi-k2-instruct" in deep
    _, shallow, _ = cli(capsys, *args, "policy.max_depth=1")
    assert "hop 2" not in shallow
    _, noted, _ = cli(capsys, *args, "+edge_policy={kimi-k2-thinking-syn: {note: checked}}")
    assert "checked" in noted
    _, removed, _ = cli(
        capsys, "explain", "kimi-k2-thinking-syn", "~fallbacks.kimi-k2-thinking-syn"
    )
    assert "no fallbacks configured" in removed


def test_explain_names_the_file_or_flag_that_declared_each_edge(capsys, workdir, deploy):
    """explain shows each edge's origin: shipped fallbacks file, env file, config dir, flag."""
    _, out, _ = cli(capsys, "explain", "kimi-k2.5-syn", "--env", "staging")
    assert "edge declared in" in out
    assert out.rstrip().endswith("env/staging.yaml")
    _, out, _ = cli(
        capsys,
        "explain",
        "deepseek-v3.1-terminus-syn",
        "--env",
        "canary",
        "--config-dir",
        str(deploy),
    )
    assert f"edge declared in {deploy / 'env' / 'canary.yaml'}" in out
    code, out, _ = cli(capsys, "explain", "deepseek-r1-0528-syn", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["steps"][0]["origin"].endswith("fallbacks/seed.yaml")
    assert data["fallback"] is None


def test_validate_several_envs_in_one_run_groups_problems_by_file(capsys, workdir):
    """`validate --env dev,staging,prod` passes, lists each env, groups problems by file."""
    code, out, _ = cli(capsys, "validate", "--env", "dev,staging,prod")
    assert code == 0
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("env ")] == [
        "env dev",
        "env staging",
        "env prod",
    ]
    staging = out.split("env staging:")[1].split("env prod:")[0].splitlines()
    files = [
        line.strip() for line in staging if line.startswith("  ") and not line.startswith("    ")
    ]
    assert files == sorted(files)
    assert any(f.endswith("env/staging.yaml") for f in files)
    assert out.splitlines()[-1] == "validated 3 env(s): 3 ok, 0 failed"


def test_validate_strict_fails_on_warnings(capsys, workdir, monkeypatch):
    """With --strict the shipped envs fail only on the key variables this environment lacks:
    with the keys set, strict validation of dev, staging and prod passes."""
    code, out, _ = cli(capsys, "validate", "--strict", "--json")
    data = json.loads(out)
    assert code == 2
    assert data["ok"] is False
    (prod,) = data["envs"]
    assert prod["errors"] == 0
    assert {p["code"] for p in prod["problems"]} == {"key-unset"}
    for name in KEYS:
        monkeypatch.setenv(name, "placeholder")
    code, out, _ = cli(capsys, "validate", "--env", "dev,staging,prod", "--strict")
    assert code == 0, out
    assert "3 ok, 0 failed" in out


def test_validate_reports_errors_of_a_deployment_dir_and_other_envs_still_run(
    capsys, workdir, deploy
):
    """An error in one env's file fails the run with its file and hint; other envs still report."""
    (deploy / "env" / "broken.yaml").write_text(
        "# @package _global_\nfallbacks:\n  kimi-k2.5-syn: [kimi-k2-instrct]\n"
    )
    code, out, _ = cli(capsys, "validate", "--config-dir", str(deploy), "--env", "canary,broken")
    assert code == 2
    broken = out.split("env broken:")[1]
    assert "FAILED" in broken.splitlines()[0]
    assert str(deploy / "env" / "broken.yaml") in broken
    assert "[unknown-target]" in broken
    assert "did you mean 'kimi-k2-instruct'?" in broken
    assert "env canary: ok" in out


def test_diff_reports_edges_models_and_policy(capsys, workdir):
    """diff shows edges added/removed/reordered, models enabled/disabled, policy changes."""
    code, out, _ = cli(capsys, "diff", "prod", "staging")
    assert code == 0
    assert "+ edge kimi-k2.5-syn -> kimi-k2-instruct: added" in out
    assert "+ model kimi-k2.5-syn: enabled (was disabled: 30 s timeouts)" in out
    code, out, _ = cli(
        capsys,
        "diff",
        "staging",
        "prod",
        "--json",
        "--fallback",
        "deepseek-r1-0528-syn=deepseek-r1,kimi-k2-instruct",
    )
    changes = {(c["kind"], c["subject"], c["what"]) for c in json.loads(out)["changes"]}
    assert ("edge", "kimi-k2.5-syn -> kimi-k2-instruct", "removed") in changes
    assert ("model", "kimi-k2.5-syn", "disabled") in changes
    assert ("edge", "deepseek-r1-0528-syn -> kimi-k2-instruct", "added") not in changes


def test_diff_against_a_deployment_env_and_policy_change(capsys, workdir, deploy):
    """diff reaches envs in --config-dir, and reports reordered edges and policy values."""
    (deploy / "env" / "wide.yaml").write_text(
        "# @package _global_\npolicy:\n  max_depth: 3\n"
        "fallbacks:\n  deepseek-v3.1-terminus-syn: [kimi-k2-instruct, qwen2.5-7b-turbo]\n"
    )
    code, out, _ = cli(capsys, "diff", "canary", "wide", "--config-dir", str(deploy))
    assert code == 0
    assert "~ policy max_depth: changed 2 -> 3" in out
    assert "+ edge deepseek-v3.1-terminus-syn -> kimi-k2-instruct: added (#1)" in out
    code, _, err = cli(capsys, "diff", "prod", "staging", "--env", "dev")
    assert (code, "drop --env" in err) == (2, True)


def test_show_prints_the_composed_yaml_without_secret_values(capsys, workdir, monkeypatch, deploy):
    """show is parseable YAML naming key variables, never their values (a URL whose query
    carries a credential is refused outright: validate/test_url_rule.py)."""
    monkeypatch.setenv("TOGETHER_API_KEY", "sk-do-not-print")
    (deploy / "env" / "proxy.yaml").write_text(
        "# @package _global_\nproviders:\n  together:\n"
        "    base_url: https://proxy.example/v1?region=eu\n"
    )
    code, out, _ = cli(capsys, "show", "--env", "proxy", "--config-dir", str(deploy))
    assert code == 0
    data = yaml.safe_load(out)
    assert data["providers"]["together"]["api_key_env"] == "TOGETHER_API_KEY"
    assert data["providers"]["together"]["base_url"].startswith("https://proxy.example/v1?region=")
    assert "sk-do-not-print" not in out


@pytest.mark.parametrize("command", ["show", "validate", "compile"])
def test_a_base_url_carrying_credentials_is_refused_masked(capsys, workdir, deploy, command):
    """A base_url with user:password@ is an error naming the file, with the password masked in
    every command's output, and no snapshot is written."""
    (deploy / "env" / "proxy.yaml").write_text(
        "# @package _global_\nproviders:\n  together:\n"
        "    base_url: https://user:hunter2@proxy.example/v1?key=sk-live-abcdef123456\n"
    )
    argv = [command, "--env", "proxy", "--config-dir", str(deploy)]
    if command == "compile":
        argv += ["-o", str(workdir / "snap.json")]
    code, out, err = cli(capsys, *argv)
    assert code == 2
    assert "env/proxy.yaml" in out + err
    assert "carries credentials" in out + err
    assert "hunter2" not in out + err
    assert "sk-live-abcdef123456" not in out + err
    assert not (workdir / "snap.json").exists()


def test_show_info_adds_choices_and_search_path(capsys, workdir, deploy):
    """show --info adds the chosen config groups and the search path as a first document."""
    code, out, _ = cli(
        capsys,
        "show",
        "--info",
        "--env",
        "canary",
        "--config-dir",
        str(deploy),
        "--disable",
        "glm-4.6-syn",
    )
    info, config = yaml.safe_load_all(out)
    assert code == 0
    assert info["choices"]["env"] == "canary"
    assert info["search_path"][0] == str(deploy)
    assert info["overrides"] == ["--disable glm-4.6-syn"]
    assert config["models"]["glm-4.6-syn"]["enabled"] is False


def test_every_subcommand_help_has_an_example(capsys, workdir):
    """Each subcommand's --help shows at least one example command line for that subcommand."""
    for command in ("table", "lookup", "explain", "validate", "graph", "diff", "show"):
        code, out, _ = cli(capsys, command, "--help")
        assert code == 0
        examples = out.split("examples:\n")[1]
        assert f"fallback-resolver {command}" in examples or command == "table"
        assert "fallback-resolver" in examples


def test_graph_writes_to_a_file_only_with_o(capsys, workdir, tmp_path):
    """`graph -o FILE` writes that file (and stdout stays empty); without -o nothing is written."""
    target = tmp_path / "out" / "g.dot"
    target.parent.mkdir()
    code, out, err = cli(capsys, "graph", "--format", "dot", "-o", str(target))
    assert (code, out) == (0, "")
    assert target.read_text().startswith("digraph fallbacks {")
    assert str(target) in err
    code, _, err = cli(capsys, "graph", "-o", str(tmp_path / "missing" / "g.mmd"))
    assert (code, "cannot write" in err) == (2, True)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color(workdir, monkeypatch):
    """Colour codes appear on a terminal, and not when NO_COLOR is set."""
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    main(["explain", "kimi-k2-thinking-syn"])
    assert "\033[" in terminal.getvalue()
    plain = _Terminal()
    monkeypatch.setattr(sys, "stdout", plain)
    monkeypatch.setenv("NO_COLOR", "1")
    main(["explain", "kimi-k2-thinking-syn"])
    assert "\033[" not in plain.getvalue()
    assert "skipped" in plain.getvalue()


def test_ids_with_hydra_grammar_characters_are_escaped_in_flags(capsys, workdir, tmp_path):
    """--enable/--disable/--fallback reach ids containing ':', spaces, '=' or brackets."""
    local = tmp_path / "local"
    (local / "env").mkdir(parents=True)
    (local / "env" / "local.yaml").write_text(
        "# @package _global_\nproviders:\n  local:\n    base_url: http://127.0.0.1:9/v1\n"
        "    api_key_env: null\n    models:\n"
        '      "org:model 1.5": {model: x, tier: budget, pricing: {prompt: 1, completion: 1}}\n'
        '      "b=c[1]": {model: y, tier: budget, pricing: {prompt: 1, completion: 1}}\n'
    )
    base = ["--config-dir", str(local), "--env", "local"]
    code, _, err = cli(
        capsys, "lookup", "org:model 1.5", *base, "--fallback", "org:model 1.5=deepseek-v3.1"
    )
    assert (code, "deepseek-v3.1: key variable TOGETHER_API_KEY is not set" in err) == (1, True)
    edge = "++fallbacks={b\\=c\\[1\\]: [org:model 1.5]}"
    code, out, _ = cli(
        capsys,
        "lookup",
        "b=c[1]",
        *base,
        "--disable",
        "org:model 1.5",
        edge,
        "--enable",
        "org:model 1.5",
    )
    assert (code, out) == (0, "org:model 1.5\n")
    code, _, err = cli(capsys, "lookup", "b=c[1]", *base, "--disable", "org:model 1.5", edge)
    assert (code, "disabled (set by --disable)" in err) == (1, True)
    code, _, err = cli(capsys, "--disable", "1.5")
    assert (code, "cannot be used as a model id" in err) == (2, True)


def test_the_later_of_disable_and_enable_wins(capsys, workdir, monkeypatch):
    """Model flags apply in command-line order: `--disable X --enable X` leaves X enabled."""
    monkeypatch.setenv("TOGETHER_API_KEY", "x")
    flags = ["--disable", "deepseek-r1", "--enable", "deepseek-r1"]
    assert cli(capsys, "lookup", "deepseek-r1-0528-syn", *flags)[:2] == (0, "deepseek-r1\n")
    flags += ["--disable", "deepseek-r1"]
    assert cli(capsys, "lookup", "deepseek-r1-0528-syn", *flags)[0] == 1


def test_validate_strict_passes_a_clean_configuration(capsys, workdir):
    """--strict exits 0 when no warning is left (dev, with the two flagged edges removed)."""
    code, out, _ = cli(
        capsys,
        "validate",
        "--strict",
        "--env",
        "dev",
        "--fallback",
        "kimi-k2-thinking-syn=",
        "--fallback",
        "qwen3-235b-thinking-syn=",
    )
    assert code == 0, out
    assert "env dev: ok: 0 error(s), 0 warning(s)" in out


def test_config_path_replaces_the_shipped_tree(capsys, workdir, tmp_path, monkeypatch):
    """--config-path composes a whole tree of the user's own instead of the shipped one."""
    from resolver.compose import shipped_config_dir

    tree = tmp_path / "tree"
    shutil.copytree(shipped_config_dir(), tree)
    (tree / "fallbacks" / "seed.yaml").write_text("deepseek-r1-0528-syn: [deepseek-v3.1]\n")
    monkeypatch.setenv("TOGETHER_API_KEY", "x")
    code, out, _ = cli(capsys, "lookup", "deepseek-r1-0528-syn", "--config-path", str(tree))
    assert (code, out) == (0, "deepseek-v3.1\n")


def test_resolver_config_dirs_adds_deployment_trees_like_config_dir(
    capsys, workdir, deploy, monkeypatch
):
    """RESOLVER_CONFIG_DIRS reaches a deployment env, as it does for the library."""
    monkeypatch.setenv("TOGETHER_API_KEY", "x")
    monkeypatch.setenv("RESOLVER_CONFIG_DIRS", str(deploy))
    code, out, _ = cli(capsys, "lookup", "deepseek-v3.1-terminus-syn", "--env", "canary")
    assert (code, out) == (0, "qwen2.5-7b-turbo\n")
