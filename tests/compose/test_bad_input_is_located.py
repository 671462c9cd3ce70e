"""Bad deployment input that used to end in a traceback ends in a ConfigError naming where it
is, through ``resolver.load`` and through ``python -m resolver validate`` (exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

import resolver

PACKAGE_ROOT = str(Path(resolver.__file__).resolve().parent.parent)

# name -> (files of the deployment dir, env, problem code, file the problem names)
CASES: dict[str, tuple[dict[str, str | bytes], str, str, str | None]] = {
    "env file whose top level is a list": (
        {"env/listed.yaml": "- providers\n- fallbacks\n"},
        "listed",
        "not-a-mapping",
        "env/listed.yaml",
    ),
    "env whose defaults list includes itself": (
        {"env/loop.yaml": "# @package _global_\ndefaults:\n  - /env: loop\n  - _self_\n"},
        "loop",
        "defaults-cycle",
        "env/loop.yaml",
    ),
    "override entry followed by a plain entry": (
        {
            "env/order.yaml": "# @package _global_\ndefaults:\n"
            "  - override /providers: [together]\n  - /fallbacks@extra: seed\n  - _self_\n"
        },
        "order",
        "bad-defaults",
        "env/order.yaml",
    ),
    "YAML error beside an unrelated file that is not UTF-8": (
        {
            "env/broken.yaml": "# @package _global_\nfallbacks: [\n",
            "env/latin.yaml": b"# @package _global_\nnote: caf\xe9\n",
        },
        "broken",
        "malformed-yaml",
        "env/broken.yaml",
    ),
    "file that is not UTF-8": (
        {"env/latin.yaml": b"# @package _global_\nnote: caf\xe9\n"},
        "latin",
        "not-utf8",
        "env/latin.yaml",
    ),
    "numeric top-level key (kept an int, as in Hydra)": (
        {"env/numeric.yaml": "# @package _global_\n2024: {policy: 1}\n"},
        "numeric",
        "unknown-key",
        "env/numeric.yaml",
    ),
    "env name that climbs out of the config dirs": (
        {"env/x.yaml": "# @package _global_\n"},
        "../../outside/evil",
        "bad-env-name",
        None,
    ),
}


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def assert_refused_by_validate(workdir: Path, code: str, *args: str) -> None:
    """`python -m resolver validate ARGS` exits 2 naming ``code``, with no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "resolver", "validate", *args],
        cwd=workdir,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": PACKAGE_ROOT},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f"[{code}]" in done.stdout + done.stderr


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_a_config_error_naming_the_file(tmp_path, case: str) -> None:
    """Each bad input ends in a ConfigError whose one error has its code and names the file."""
    files, env, code, file = CASES[case]
    root = write(tmp_path / "deploy", files)
    with pytest.raises(resolver.ConfigError) as e:
        resolver.load(env=env, config_dirs=[root])
    (problem,) = e.value.errors
    assert problem.code == code, problem
    if file is None:
        assert problem.key == "env"
    else:
        assert problem.file is not None
        assert Path(problem.file).resolve() == (root / file).resolve()


@pytest.mark.parametrize("case", CASES)
def test_bad_input_through_the_command_line(tmp_path, case: str) -> None:
    """`validate` exits 2 on each bad input, names the problem's code, and shows no traceback."""
    files, env, code, _ = CASES[case]
    root = write(tmp_path / "deploy", files)
    assert_refused_by_validate(tmp_path, code, "--config-dir", str(root), "--env", env)


def test_unrelated_unreadable_files_are_not_read(tmp_path) -> None:
    """Files that are not part of the composition may be anything: the env loads."""
    root = write(
        tmp_path / "deploy",
        {
            "env/fine.yaml": "# @package _global_\npolicy:\n  max_depth: 3\n",
            "env/latin.yaml": b"\xff\xfe not text",
            "env/listed.yaml": "- a\n",
        },
    )
    assert resolver.load(env="fine", config_dirs=[root]).policy.max_depth == 3


@pytest.mark.parametrize("kind", [str, Path])
def test_a_single_config_dir_is_accepted(tmp_path, kind) -> None:
    """`config_dirs` given one path (text or Path) is that one directory, not its characters."""
    root = write(
        tmp_path / "deploy", {"env/one.yaml": "# @package _global_\npolicy:\n  retries: 2\n"}
    )
    assert resolver.load(env="one", config_dirs=kind(root)).policy.retries == 2


def test_the_filesystem_root_is_not_a_config_dir() -> None:
    """'/' as a config dir is refused with a problem saying what to pass instead."""
    with pytest.raises(resolver.ConfigError) as e:
        resolver.load(config_dirs=["/"])
    (problem,) = e.value.problems
    assert problem.code == "bad-config-dir"
    assert problem.key == "config_dirs[0]"


def test_a_group_choice_cannot_climb_out_of_its_group(tmp_path) -> None:
    """An override choosing `env=../elsewhere/x` is refused as the env argument is."""
    outside = write(tmp_path / "elsewhere", {"x.yaml": "# @package _global_\n"})
    write(tmp_path / "env", {"mine.yaml": "# @package _global_\n"})  # a config dir's content
    with pytest.raises(resolver.ConfigError) as e:
        resolver.load(overrides=[f"env=../{outside.name}/x"], config_dirs=[tmp_path])
    (problem,) = e.value.problems
    assert problem.code == "bad-env-name"


@pytest.mark.parametrize(
    "text",
    [
        "# @package _global_\ndefaults:\n  - _self_\npolicy:\n  max_depth: 3\t\n",
        "# @package _global_\npolicy:\n  max_depth: 3\t\n",
    ],
    ids=["with-defaults-list", "plain"],
)
def test_a_tab_after_a_value_is_read_as_hydra_reads_it(tmp_path, text: str) -> None:
    """A tab after a value is a malformed-yaml problem naming the file exactly when Hydra's
    own YAML loader refuses it (OmegaConf 2.3 does; 2.4's C loader does not), whether or not
    the file has a defaults list; `validate` and `load` agree."""
    root = write(tmp_path / "deploy", {"env/tabbed.yaml": text})
    try:
        OmegaConf.load(root / "env/tabbed.yaml")
    except yaml.YAMLError:
        with pytest.raises(resolver.ConfigError) as e:
            resolver.load(env="tabbed", config_dirs=[root])
        (problem,) = e.value.problems
        assert problem.code == "malformed-yaml"
        assert Path(problem.file).resolve() == (root / "env/tabbed.yaml").resolve()
    else:
        assert resolver.load(env="tabbed", config_dirs=[root]).policy.max_depth == 3


@pytest.mark.parametrize(
    ("override", "code"),
    [("policy=[1]", "bad-override"), ("policy.fallback_on.server=1", "bad-override")],
    ids=["group-choice-not-a-name", "key-path-through-a-list"],
)
def test_overrides_hydra_fails_on_with_plain_errors(tmp_path, override: str, code: str) -> None:
    """Overrides on which Hydra or OmegaConf raise a bare TypeError or ValueError are problems,
    through load() and through `validate` (exit 2, no traceback)."""
    with pytest.raises(resolver.ConfigError) as e:
        resolver.load(overrides=[override])
    assert [p.code for p in e.value.errors] == [code]
    assert_refused_by_validate(tmp_path, code, override)
