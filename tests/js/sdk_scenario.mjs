// The official `skytells` npm SDK against a skytells-lab server: node sdk_scenario.mjs BASE_URL [API_KEY]
// Prints one JSON object: the versions, and what each step saw. Steps the installed SDK has no method for
// are reported as "absent" (skytells 1.0.0 has no predictions list, chat, embeddings or responses).
import { readFileSync } from "node:fs";
import * as sdk from "skytells";

const [baseUrl, apiKey] = process.argv.slice(2);
// the package's "exports" hide package.json: read the installed copy's file
const pkg = JSON.parse(readFileSync(new URL("./node_modules/skytells/package.json", import.meta.url), "utf8"));
const client = sdk.createClient(apiKey || undefined, { baseUrl, timeout: 120000 });
const out = { node: process.version, skytells: pkg.version, steps: {} };
const fast = { num_inference_steps: 2, width: 32, height: 32 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function step(name, fn) {
  try {
    out.steps[name] = await fn();
  } catch (err) {
    out.steps[name] = { error: String(err && err.message), errorId: err && err.errorId, httpStatus: err && err.httpStatus };
  }
}

function method(...names) {
  for (const name of names) {
    const parts = name.split(".");
    let owner = client;
    for (const p of parts.slice(0, -1)) owner = owner && owner[p];
    const fn = owner && owner[parts[parts.length - 1]];
    if (typeof fn === "function") return fn.bind(owner);
  }
  return null;
}

await step("models", async () => {
  const models = await client.listModels();
  return { count: models.length, slugs: models.map((m) => m.namespace) };
});

let created;
await step("create", async () => {
  created = await client.predict({ model: "digits-diffusion", input: { prompt: "7", ...fast } });
  return { id: created.id, status: created.status, stream_url: Boolean(created.urls && created.urls.stream) };
});

await step("poll", async () => {
  let p = await client.getPrediction(created.id);
  for (let i = 0; i < 600 && !["succeeded", "failed", "cancelled"].includes(p.status); i++) {
    await sleep(100);
    p = await client.getPrediction(created.id);
  }
  return { status: p.status, outputs: (p.output || []).length };
});

await step("await", async () => {
  const p = await client.predict({ model: "digits-diffusion", input: { prompt: "3", ...fast }, await: true });
  return { status: p.status, outputs: (p.output || []).length };
});

await step("stream_info", async () => {
  const p = await client.streamPrediction(created.id);
  return { id: p.id, status: p.status };
});

const list = method("predictions.list", "listPredictions");
await step("list", async () => {
  if (!list) return "absent";
  const page = await list();
  const data = Array.isArray(page) ? page : page.data;
  return { count: data.length, has_created: data.some((p) => p.id === created.id) };
});

await step("cancel", async () => {
  const long = await client.predict({ model: "digits-diffusion", input: { prompt: "9", num_inference_steps: 200, num_outputs: 4 } });
  const p = await client.cancelPrediction(long.id);
  const after = await client.getPrediction(long.id);
  return { status: p.status, after: after.status };
});

await step("delete", async () => {
  await client.deletePrediction(created.id);
  try {
    await client.getPrediction(created.id);
    return { gone: false };
  } catch (err) {
    return { gone: true, errorId: err.errorId, httpStatus: err.httpStatus };
  }
});

const chat = method("chat.completions.create", "chat.create");
await step("chat", async () => {
  if (!chat) return "absent";
  const c = await chat({ model: "smollm2-135m-instruct", messages: [{ role: "user", content: "Say hi" }], max_tokens: 4 });
  return { object: c.object, choices: c.choices.length };
});

const embeddings = method("embeddings.create");
await step("embeddings", async () => {
  if (!embeddings) return "absent";
  const e = await embeddings({ model: "all-minilm-l6-v2", input: ["a cat"] });
  return { dim: e.data[0].embedding.length };
});

const responses = method("responses.create");
await step("responses", async () => {
  if (!responses) return "absent";
  const r = await responses({ model: "smollm2-135m-instruct", input: "Say hi", max_output_tokens: 4 });
  return { object: r.object, status: r.status };
});

console.log(JSON.stringify(out));
