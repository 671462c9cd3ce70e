// Runs the TypeScript modules `fallback-resolver export --format ts` wrote (compiled by tsc)
// against the Python resolver's answers: node check_ts.mjs EXPECTED.json
// EXPECTED.json: [{module, providers: {id: {...}}, cases: [{environ, answers: {model: {provider,
// chain}}}]}]. Each case replaces the key variables in process.env, since the module's
// contract is to read process.env at call time. Prints every mismatch; exits 1 if any.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const expected = JSON.parse(readFileSync(process.argv[2], "utf8"));
const mismatches = [];
let checked = 0;

for (const { module, keyVars, providers, cases } of expected) {
  const mod = require(module);
  for (const [id, fields] of Object.entries(providers)) {
    const got = mod.ALL_PROVIDERS[id];
    const same = got && Object.entries(fields).every(([k, v]) => got[k] === v);
    if (!same) mismatches.push({ module, id, expected: fields, got });
  }
  const extra = Object.keys(mod.ALL_PROVIDERS).filter((id) => !(id in providers));
  if (extra.length) mismatches.push({ module, extraProviders: extra });
  for (const { environ, answers } of cases) {
    for (const name of keyVars) delete process.env[name];
    Object.assign(process.env, environ);
    for (const [model, want] of Object.entries(answers)) {
      const provider = mod.getFallbackProvider(model)?.id ?? null;
      const chain = mod.getFallbackChain(model).map((p) => p.id);
      checked += 1;
      if (provider !== want.provider || JSON.stringify(chain) !== JSON.stringify(want.chain)) {
        mismatches.push({ module, environ, model, want, got: { provider, chain } });
      }
    }
  }
}
console.log(JSON.stringify({ checked, mismatches }, null, 1));
process.exit(mismatches.length ? 1 : 0);
