"""The TypeScript export, compiled by the real `tsc --strict` and run by node against the Python
resolver's answers. The tools come from tests/export/node/package-lock.json (`npm ci`, run by
.ci/run)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from resolver import load
from resolver.cli import main

NODE_DIR = Path(__file__).parent / "node"
TSC = NODE_DIR / "node_modules" / ".bin" / "tsc"
ENVS = ("dev", "staging", "prod")
KEY_VARS = ("TOGETHER_API_KEY", "SYNTHETIC_API_KEY")
KEY_SETS = (
    {},
    {"TOGETHER_API_KEY": "t", "SYNTHETIC_API_KEY": "s"},
    {"TOGETHER_API_KEY": "t"},
    {"SYNTHETIC_API_KEY": "s"},
    {"TOGETHER_API_KEY": ""},  # set but empty counts as unset, in Python as in TS
)

pytestmark = pytest.mark.skipif(
    not TSC.exists() or shutil.which("node") is None,
    reason="node and tests/export/node/node_modules are needed: `npm ci` there (.ci/run does)",
)


def compile_ts(sources: list[Path], out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(TSC),
            "--strict",
            "--target",
            "es2022",
            "--module",
            "commonjs",
            "--outDir",
            str(out),
            *map(str, sources),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def answers(env: str, environ: dict[str, str]) -> dict[str, dict[str, object]]:
    r = load(env=env)
    models = [*sorted(r.providers), "no-such-model"]  # disabled and unknown models too
    out = {}
    for model in models:
        found = r.get_fallback_provider(model, environ=environ)
        chain = [p.id for p in r.get_fallback_chain(model, environ=environ)]
        out[model] = {"provider": found and found.id, "chain": chain}
    return out


def test_ts_module_compiles_strict_and_answers_as_python_for_every_env_and_key_set(tmp_path):
    """For every model of every shipped env, with keys set, unset or partly set in
    process.env, the compiled module's getFallbackProvider and getFallbackChain give the Python
    resolver's answers, and its Provider records carry the same connection data."""
    sources = []
    for env in ENVS:
        source = tmp_path / f"fallbacks_{env}.ts"
        assert main(["export", "--format", "ts", "--env", env, "-o", str(source)]) == 0
        sources.append(source)
    compiled = compile_ts(sources, tmp_path / "out")
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    expected = []
    for env in ENVS:
        r = load(env=env)
        providers = {
            p.id: {"model": p.model, "baseUrl": p.base_url, "apiKeyEnv": p.api_key_env}
            for p in r.providers.values()
            if p.enabled
        }
        cases = [{"environ": keys, "answers": answers(env, keys)} for keys in KEY_SETS]
        module = str(tmp_path / "out" / f"fallbacks_{env}.js")
        expected.append(
            {"module": module, "keyVars": KEY_VARS, "providers": providers, "cases": cases}
        )
    spec = tmp_path / "expected.json"
    spec.write_text(json.dumps(expected))
    run = subprocess.run(
        ["node", str(NODE_DIR / "check_ts.mjs"), str(spec)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["checked"] == sum(len(c["answers"]) for e in expected for c in e["cases"])


def test_an_unknown_model_id_is_a_compile_error(tmp_path):
    """A service that names a model the env does not have gets a compile error from
    tsc --strict: the ids are a type, not strings."""
    source = tmp_path / "fallbacks.ts"
    assert main(["export", "--format", "ts", "-o", str(source)]) == 0
    use = tmp_path / "use.ts"
    use.write_text(
        'import { ALL_PROVIDERS } from "./fallbacks";\n'
        'const p = ALL_PROVIDERS["no-such-model"];\n'
        "export default p;\n"
    )
    compiled = compile_ts([source, use], tmp_path / "out")
    assert compiled.returncode != 0
    assert "no-such-model" in compiled.stdout


GROUPED = [
    "++groups={llama: {strategy: weighted, members: "
    "{llama-3.3-70b-turbo: {weight: 3}, llama-3-70b-reference: {weight: 1}}}, "
    "cogito: [cogito-70b, cogito-109b-moe]}",
    "++fallbacks={llama: [deepseek-v3.1], deepseek-v3-0324-syn: [cogito], cogito: [llama]}",
]


def test_groups_compile_and_pick_as_the_python_resolver_does(tmp_path):
    """An export with groups compiles with tsc --strict; node's chains through an ordered group
    are Python's, and pickMember splits 100,000 picks of a 3:1 group within 1% of its weights."""
    r = load(overrides=GROUPED)
    source = tmp_path / "fallbacks.ts"
    assert main(["export", "--format", "ts", *GROUPED, "-o", str(source)]) == 0
    compiled = compile_ts([source], tmp_path / "out")
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    keys = {"TOGETHER_API_KEY": "t", "SYNTHETIC_API_KEY": "s"}
    script = (
        "const m = require(process.argv[1]);"
        "Object.assign(process.env, JSON.parse(process.argv[2]));"
        "const picks = {}; for (let i = 0; i < 100000; i++) {"
        " const id = m.pickMember('llama').id; picks[id] = (picks[id] || 0) + 1; }"
        "const chains = {}; for (const s of ['deepseek-v3-0324-syn', 'cogito'])"
        " chains[s] = m.getFallbackChain(s).map((p) => p.id);"
        "console.log(JSON.stringify({picks, chains}));"
    )
    done = subprocess.run(
        ["node", "-e", script, str(tmp_path / "out" / "fallbacks.js"), json.dumps(keys)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert abs(got["picks"]["llama-3.3-70b-turbo"] / 100_000 - 0.75) < 0.01, got["picks"]
    room = r.policy.max_attempts - 1  # an export writes the backups a call can reach
    assert (
        got["chains"]["deepseek-v3-0324-syn"]
        == [p.id for p in r.get_fallback_chain("deepseek-v3-0324-syn", environ=keys)][:room]
    )
    # A weighted group in a chain: its members, in their declared order.
    assert got["chains"]["cogito"] == ["llama-3.3-70b-turbo", "llama-3-70b-reference"][:room]
