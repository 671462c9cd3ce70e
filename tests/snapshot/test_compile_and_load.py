"""Compiled snapshots: what ``compile`` writes is what ``load`` composed, and nothing else is
served: a snapshot from another version, an edited or a truncated file is refused."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import resolver
from resolver import snapshot
from resolver.cli import main
from resolver.errors import SnapshotError

PACKAGE_ROOT = str(Path(resolver.__file__).parent.parent)
ENVS = ("dev", "staging", "prod")
# A deployment's edge on a dotted id, and a patch: a snapshot must carry overrides too.
OVERRIDES = (
    "++models={glm-4.6-syn: {enabled: true}}",
    "++fallbacks={glm-4.6-syn: [kimi-k2-instruct]}",
    "++edge_policy={glm-4.6-syn: {max_cost_ratio: 5, note: trial}}",
)
ENVIRONS = ({}, {"TOGETHER_API_KEY": "t"}, {"TOGETHER_API_KEY": "t", "SYNTHETIC_API_KEY": "s"})


def compiled(tmp_path: Path, r: resolver.Resolver, name: str = "snap.json") -> Path:
    path = tmp_path / name
    snapshot.write(r, path)
    return path


@pytest.mark.parametrize("env", ENVS)
def test_snapshot_answers_as_the_composed_configuration(tmp_path, env) -> None:
    """A loaded snapshot has the composed data and gives the same answer for every model."""
    composed = resolver.load(env=env, overrides=OVERRIDES)
    served = resolver.load_snapshot(compiled(tmp_path, composed))
    assert served.env == composed.env == env
    assert dict(served.providers) == dict(composed.providers)
    assert dict(served.fallbacks) == dict(composed.fallbacks)
    assert dict(served.edge_policy) == dict(composed.edge_policy)
    assert served.policy == composed.policy
    assert served.warnings == composed.warnings
    assert dict(served.origins) == dict(composed.origins)
    for environ in ENVIRONS:
        for model_id in [*composed.providers, "no-such-model"]:
            assert served.get_fallback_provider(
                model_id, environ=environ
            ) == composed.get_fallback_provider(model_id, environ=environ)
            assert served.get_fallback_chain(
                model_id, environ=environ
            ) == composed.get_fallback_chain(model_id, environ=environ)
            assert served.explain(model_id, environ=environ) == composed.explain(
                model_id, environ=environ
            )


def test_snapshot_round_trip_is_byte_identical(tmp_path) -> None:
    """Compiling a loaded snapshot again writes the same bytes: the format is stable."""
    first = compiled(tmp_path, resolver.load(env="staging", overrides=OVERRIDES))
    second = compiled(tmp_path, resolver.load_snapshot(first), "again.json")
    assert first.read_bytes() == second.read_bytes()


def test_snapshot_is_sorted_json_with_version_and_hash(tmp_path) -> None:
    """The file is sorted JSON naming the package version and a SHA-256 of its content."""
    text = compiled(tmp_path, resolver.load()).read_text()
    content = json.loads(text)
    assert text == json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert content["version"] == resolver.__version__
    assert content["integrity"].startswith("sha256:")
    assert content["fallbacks"]["deepseek-r1-0528-syn"] == ["deepseek-r1"]


def test_snapshot_from_another_version_is_refused(tmp_path, monkeypatch) -> None:
    """A snapshot written by another package version is stale, even with a valid hash."""
    r = resolver.load()
    monkeypatch.setattr(snapshot, "__version__", "0.0.1")
    path = compiled(tmp_path, r)
    monkeypatch.undo()
    with pytest.raises(SnapshotError, match=r"compiled by fallback-resolver '0\.0\.1'") as e:
        resolver.load_snapshot(path)
    assert e.value.path == str(path)
    assert "recompile" in (e.value.hint or "")


def test_edited_snapshot_is_refused(tmp_path) -> None:
    """A snapshot changed after compiling (a backup swapped by hand) fails its hash check."""
    path = compiled(tmp_path, resolver.load())
    text = path.read_text()
    path.write_text(text.replace('"deepseek-r1"\n', '"kimi-k2-instruct"\n', 1))
    assert path.read_text() != text
    with pytest.raises(SnapshotError, match="integrity hash"):
        resolver.load_snapshot(path)


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.99])
def test_truncated_snapshot_is_refused(tmp_path, keep) -> None:
    """A snapshot cut short (an interrupted copy) is refused, wherever it was cut."""
    path = compiled(tmp_path, resolver.load())
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(SnapshotError, match="not valid JSON"):
        resolver.load_snapshot(path)


@pytest.mark.parametrize("text", ["{}", "[1, 2]", '{"integrity": "sha256:0"}'])
def test_json_that_is_no_snapshot_is_refused(tmp_path, text) -> None:
    """Valid JSON that is not a snapshot of this version is refused, not half-read."""
    path = tmp_path / "other.json"
    path.write_text(text)
    with pytest.raises(SnapshotError):
        resolver.load_snapshot(path)


def test_missing_snapshot_is_a_snapshot_error(tmp_path) -> None:
    """A path with no file behind it is a SnapshotError naming the file, not an OSError."""
    with pytest.raises(SnapshotError, match="cannot be read") as e:
        resolver.load_snapshot(tmp_path / "absent.json")
    assert isinstance(e.value, resolver.ResolverError)


def test_resolver_snapshot_serves_module_level_lookups(tmp_path, monkeypatch) -> None:
    """RESOLVER_SNAPSHOT makes the module-level functions answer from the snapshot."""
    path = compiled(tmp_path, resolver.load(env="staging", overrides=OVERRIDES))
    monkeypatch.setenv("TOGETHER_API_KEY", "t")
    assert resolver.get_fallback_provider("glm-4.6-syn") is None  # the shipped prod answer
    monkeypatch.setenv("RESOLVER_SNAPSHOT", str(path))
    assert resolver.get_fallback_provider("glm-4.6-syn").id == "kimi-k2-instruct"
    assert resolver.default_resolver().env == "staging"
    assert resolver.MODEL_FALLBACKS["kimi-k2.5-syn"] == "kimi-k2-instruct"


def test_resolver_snapshot_refuses_another_env(tmp_path, monkeypatch) -> None:
    """Asking the snapshot's default resolver for an env it was not compiled for is an error."""
    monkeypatch.setenv("RESOLVER_SNAPSHOT", str(compiled(tmp_path, resolver.load(env="dev"))))
    assert resolver.default_resolver("dev").env == "dev"
    monkeypatch.setenv("RESOLVER_ENV", "prod")
    with pytest.raises(SnapshotError, match="compiled for env 'dev', not 'prod'"):
        resolver.get_fallback_provider("deepseek-r1-0528-syn")


def test_snapshot_is_served_without_hydra(tmp_path) -> None:
    """Loading a snapshot and looking up imports neither Hydra, OmegaConf, PyYAML, httpx nor
    the execution layer's asyncio: a service serving lookups starts in a JSON read."""
    path = compiled(tmp_path, resolver.load())
    code = (
        "import sys, resolver; "
        f"r = resolver.load_snapshot({str(path)!r}); "
        "env = {'TOGETHER_API_KEY': 'x'}; "
        "assert r.get_fallback_provider('deepseek-r1-0528-syn', environ=env); "
        "print([m for m in ('hydra', 'omegaconf', 'yaml', 'httpx', 'asyncio') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": PACKAGE_ROOT},
    )
    assert out.stdout.strip() == "[]"


# --- the compile command -------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty cwd; compile must write nothing there unless -o points there."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_compile_writes_a_loadable_snapshot(workdir, tmp_path, capsys) -> None:
    """`compile -o FILE` exits 0 and writes the snapshot of the composed env and overrides."""
    out = tmp_path / "prod.json"
    assert main(["compile", "--env", "staging", "-o", str(out), *OVERRIDES]) == 0
    assert "compiled env staging" in capsys.readouterr().err
    content = json.loads(out.read_text())
    assert (content["env"], content["fallbacks"]["glm-4.6-syn"]) == (
        "staging",
        ["kimi-k2-instruct"],
    )
    served = resolver.load_snapshot(out)
    assert served.env == "staging"
    assert served.providers["glm-4.6-syn"].enabled  # the override, not the shipped "disabled"
    assert served.edge_policy["glm-4.6-syn"].note == "trial"
    assert served.get_fallback_chain("glm-4.6-syn", environ={"TOGETHER_API_KEY": "t"}) == (
        served.providers["kimi-k2-instruct"],
    )
    assert list(workdir.iterdir()) == []


def test_compile_without_output_prints_and_writes_nothing(workdir, capsys) -> None:
    """Without -o the snapshot goes to stdout and no file is written."""
    assert main(["compile", "--disable", "deepseek-r1"]) == 0
    printed = capsys.readouterr().out
    r = snapshot.from_json(printed)
    assert not r.providers["deepseek-r1"].enabled
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize(
    "args", [["--env", "nosuch"], ["policy.max_depth=0"], ["--fallback", "x=deepseek-r1"]]
)
def test_compile_of_a_bad_configuration_exits_2_and_writes_nothing(workdir, capsys, args) -> None:
    """An invalid configuration is reported (exit 2) and leaves no snapshot behind."""
    assert main(["compile", "-o", "snap.json", *args]) == 2
    assert "invalid configuration" in capsys.readouterr().err
    assert list(workdir.iterdir()) == []


def test_compile_to_an_unwritable_path_exits_2(workdir, tmp_path, capsys) -> None:
    """A snapshot path in a missing directory is a short error (exit 2), not a traceback."""
    assert main(["compile", "-o", str(tmp_path / "missing" / "snap.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


@dataclasses.dataclass(frozen=True)
class _Section:
    limit: int = 3


@dataclasses.dataclass(frozen=True)
class _PolicyWithHiddenTypes:
    # Annotations naming types the module does not define at run time, as a policy field whose
    # type is imported only under TYPE_CHECKING would be.
    section: HiddenSection = dataclasses.field(default_factory=_Section)  # noqa: F821
    classes: HiddenClasses = ("server",)  # noqa: F821


def test_fields_whose_annotations_cannot_be_evaluated_are_restored_from_their_defaults() -> None:
    """A nested section or tuple is restored even when its annotation cannot be resolved."""
    data = dataclasses.asdict(_PolicyWithHiddenTypes(_Section(7), ("timeout", "server")))
    restored = json.loads(json.dumps(data))
    assert snapshot._build(_PolicyWithHiddenTypes, restored, "policy") == _PolicyWithHiddenTypes(
        _Section(7), ("timeout", "server")
    )


def test_snapshot_records_no_redis_url_and_reads_it_when_loaded(tmp_path, monkeypatch) -> None:
    """A snapshot never holds the Redis URL (or its password); the loading service's
    RESOLVER_REDIS_URL supplies it, as it does for the YAML configuration."""
    monkeypatch.setenv("RESOLVER_REDIS_URL", "redis://:compile-secret@127.0.0.9:6379/0")
    compiled = resolver.load(overrides=["policy.health.store=redis"])
    path = tmp_path / "snap.json"
    snapshot.write(compiled, path)
    text = path.read_text()
    assert "compile-secret" not in text
    assert "127.0.0.9" not in text
    monkeypatch.setenv("RESOLVER_REDIS_URL", "redis://:run-secret@127.0.0.1:6390/0")
    served = snapshot.load_snapshot(path)
    assert served.policy.health.store == "redis"
    assert served.policy.health.url.reveal() == "redis://:run-secret@127.0.0.1:6390/0"
    assert "run-secret" not in repr(served.policy)
