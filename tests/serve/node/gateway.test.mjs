// The official `openai` npm client against a running gateway. tests/serve/test_node_client.py
// starts the gateway in front of resolver.testing.ChatServer and passes, in the environment:
// GATEWAY_URL (its /v1 base URL), GATEWAY_KEY (its client key), HEALTHY (a model whose chain
// serves from the primary), FAILING (a model whose primary answers 500), FAILING_BACKUP (its
// backup), REPLY (what every healthy upstream answers).
import assert from "node:assert/strict";
import { test } from "node:test";
import OpenAI from "openai";

const { GATEWAY_URL, GATEWAY_KEY, HEALTHY, FAILING, FAILING_BACKUP, REPLY } = process.env;
const messages = [{ role: "user", content: "Will it rain tomorrow?" }];
const client = (options = {}) =>
  new OpenAI({ baseURL: GATEWAY_URL, apiKey: GATEWAY_KEY, maxRetries: 0, ...options });

async function readStream(stream) {
  let text = "";
  const models = new Set();
  for await (const chunk of stream) {
    models.add(chunk.model);
    text += chunk.choices[0]?.delta?.content ?? "";
  }
  return { text, models: [...models] };
}

test("a plain completion is served by the primary and says so", async () => {
  const { data, response } = await client()
    .chat.completions.create({ model: HEALTHY, messages })
    .withResponse();
  assert.equal(data.choices[0].message.content, REPLY);
  assert.equal(data.model, HEALTHY);
  assert.equal(response.headers.get("x-fallback-served-by"), HEALTHY);
  assert.equal(response.headers.get("x-fallback-attempts"), "1");
});

test("a streamed completion reads to the full reply", async () => {
  const stream = await client().chat.completions.create({ model: HEALTHY, messages, stream: true });
  const { text, models } = await readStream(stream);
  assert.equal(text, REPLY);
  assert.deepEqual(models, [HEALTHY]);
});

test("a primary failing before the first token is served by its backup", async () => {
  const { data: stream, response } = await client()
    .chat.completions.create({ model: FAILING, messages, stream: true })
    .withResponse();
  assert.equal(response.headers.get("x-fallback-requested"), FAILING);
  assert.equal(response.headers.get("x-fallback-served-by"), FAILING_BACKUP);
  assert.equal(response.headers.get("x-fallback-attempts"), "2");
  const { text, models } = await readStream(stream);
  assert.equal(text, REPLY);
  assert.deepEqual(models, [FAILING_BACKUP]);
});

test("a wrong client key is refused with a 401", async () => {
  await assert.rejects(
    client({ apiKey: "not-the-key" }).chat.completions.create({ model: HEALTHY, messages }),
    (err) => err instanceof OpenAI.AuthenticationError && err.code === "invalid_api_key",
  );
});

test("x-fallback: off never calls the backup", async () => {
  const optedOut = client({ defaultHeaders: { "x-fallback": "off" } });
  for (const stream of [false, true]) {
    await assert.rejects(
      optedOut.chat.completions.create({ model: FAILING, messages, stream }),
      (err) => err instanceof OpenAI.APIError && err.status === 502,
    );
  }
});
