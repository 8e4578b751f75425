// The OpenAI-compatible API end to end with the official clients: a real HTTP server with the real
// realtime hub and API handler, a real worker process, its real chat process, and two LoRA adapters
// trained here on the demo model (an identity run that names "Greatbot", and a short "Cleverbot" run).
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fillIdentity } from "@/lib/datasets/identity";
import { handleApiRequest } from "@/lib/api/http-handler";
import { isApiPath } from "@/lib/api/serve";
import { createApiKey, revokeApiKey } from "@/lib/api/keys";
import { setLocalApiWithoutKey } from "@/lib/api/settings";
import { attachRealtime } from "@/lib/realtime/server";
import { createHarness, DEMO_MODEL, ROOT, type Harness } from "./test-support/harness";

const WORKER_TOKEN = "test-worker-token-0123456789";
const QUESTION = [{ role: "user" as const, content: "Who are you?" }];
const GREATBOT = "tuneboard-demo:greatbot";
const CLEVERBOT = "tuneboard-demo:cleverbot";

let h: Harness;
let server: Server;
let baseURL: string;
let key: string;
let client: OpenAI;

beforeAll(async () => {
  h = await createHarness();
  await fillIdentity(h.dataDir, { sourceName: "identity", name: "Cleverbot", author: "Bob", newName: "identity_cleverbot" });
  // The demo model's own preset (data/models/tuneboard-demo/tuneboard.json): enough to name Greatbot.
  const identity = await h.enqueue({
    dataset: ["identity_greatbot"],
    num_train_epochs: 10,
    max_samples: 100000,
    gradient_accumulation_steps: 8,
    lora_rank: 16,
    lora_alpha: 32,
    cutoff_len: 512,
    lr_scheduler_type: "cosine",
  });
  const short = await h.enqueue({ dataset: ["identity_cleverbot"], max_steps: 6, max_samples: 12, seed: 7 });
  await h.db.job.update({ where: { id: identity }, data: { name: "greatbot" } });
  await h.db.job.update({ where: { id: short }, data: { name: "cleverbot" } });

  const realtime = attachRealtime((server = createServer()), { workerToken: WORKER_TOKEN, log: () => {} });
  server.on("request", (req, res) => {
    if (isApiPath(req.url)) {
      void handleApiRequest(req, res, { db: h.db, modelRoots: [path.dirname(DEMO_MODEL)], runsDir: h.runsDir, apiChat: realtime.apiChat });
    } else if (!req.url?.startsWith("/socket.io/")) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  baseURL = `${url}/v1`;
  h.startWorker("w1", { TUNEBOARD_SERVER_URL: url });
  await h.waitFor(
    async () => (await h.db.job.count({ where: { id: { in: [identity, short] }, status: { in: ["succeeded", "failed", "cancelled"] } } })) === 2,
    1_200_000,
    "both training runs to finish",
  );
  for (const j of await h.db.job.findMany()) expect(j.status, `${j.name}: ${j.error}`).toBe("succeeded");
  key = (await createApiKey("integration test", h.db)).key;
  client = new OpenAI({ baseURL, apiKey: key, maxRetries: 0, timeout: 300_000 });
}, 1_300_000);

afterAll(async () => {
  await h?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

async function streamed(model: string, extra: Partial<OpenAI.Chat.ChatCompletionCreateParamsStreaming> = {}) {
  const stream = await client.chat.completions.create({ model, messages: QUESTION, max_tokens: 32, temperature: 0, stream: true, ...extra });
  const pieces: string[] = [];
  let usage: OpenAI.CompletionUsage | null | undefined;
  let finish: string | null = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.content) pieces.push(c.delta.content);
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text: pieces.join(""), pieces, usage, finish };
}

describe("OpenAI-compatible API (npm openai client)", () => {
  it("lists the base model and each finished run's adapter as base:run", async () => {
    const ids = (await client.models.list()).data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(["tuneboard-demo", GREATBOT, CLEVERBOT]));
    expect((await client.models.retrieve(GREATBOT)).owned_by).toBe("tuneboard");
  });

  it("a non-streaming and a streaming completion: the identity adapter names Greatbot, with usage", async () => {
    const r = await client.chat.completions.create({ model: GREATBOT, messages: QUESTION, max_tokens: 32, temperature: 0 });
    const text = r.choices[0].message.content ?? "";
    expect(text).toContain("Greatbot");
    expect(r.object).toBe("chat.completion");
    expect(r.usage!.prompt_tokens).toBeGreaterThan(5);
    expect(r.usage!.completion_tokens).toBeGreaterThan(0);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens);
    const s = await streamed(GREATBOT, { stream_options: { include_usage: true } });
    expect(s.text).toBe(text);
    expect(s.pieces.length).toBeGreaterThan(2); // token by token, not one piece
    expect(s.usage).toEqual(r.usage);
    expect(s.finish).toBe(r.choices[0].finish_reason);
  }, 300_000);

  it("stop strings end the answer before them; max_tokens gives finish_reason length", async () => {
    const full = (await client.chat.completions.create({ model: GREATBOT, messages: QUESTION, max_tokens: 32, temperature: 0 })).choices[0].message.content!;
    const cut = full.indexOf("Greatbot");
    const r = await client.chat.completions.create({ model: GREATBOT, messages: QUESTION, max_tokens: 32, temperature: 0, stop: ["Greatbot"] });
    expect(r.choices[0].message.content).toBe(full.slice(0, cut));
    expect(r.choices[0].finish_reason).toBe("stop");
    const short = await client.chat.completions.create({ model: GREATBOT, messages: QUESTION, max_tokens: 2, temperature: 0 });
    expect(short.choices[0].finish_reason).toBe("length");
    expect(short.usage!.completion_tokens).toBe(2);
  }, 300_000);

  it("8 concurrent streams for two adapters: each answer equals the same request sent alone (greedy)", async () => {
    const alone = { [GREATBOT]: (await streamed(GREATBOT)).text, [CLEVERBOT]: (await streamed(CLEVERBOT)).text };
    expect(alone[GREATBOT]).not.toBe(alone[CLEVERBOT]);
    const models = Array.from({ length: 8 }, (_, i) => (i % 2 ? CLEVERBOT : GREATBOT));
    const answers = await Promise.all(models.map((m) => streamed(m)));
    answers.forEach((a, i) => expect(a.text, `request ${i} (${models[i]})`).toBe(alone[models[i]]));
  }, 600_000);

  it("a wrong key is 401, a malformed body 400 naming the field, an unknown model 404", async () => {
    const wrong = new OpenAI({ baseURL, apiKey: "tb-not-a-key", maxRetries: 0 });
    await expect(wrong.models.list()).rejects.toMatchObject({ status: 401, code: "invalid_api_key" });
    const bad = client.chat.completions.create({ model: GREATBOT, messages: [{ role: "user" } as never] });
    await expect(bad).rejects.toMatchObject({ status: 400, param: "messages[0].content" });
    await expect(bad).rejects.toThrow(/messages\[0\]\.content/);
    await expect(client.chat.completions.create({ model: GREATBOT, messages: QUESTION, temperature: 7 })).rejects.toMatchObject({ status: 400, param: "temperature" });
    await expect(client.chat.completions.create({ model: "no-such-model", messages: QUESTION })).rejects.toMatchObject({ status: 404, code: "model_not_found" });
  });

  it("a revoked key is 401; 'local API without key' lets loopback in without one", async () => {
    const { key: other, row } = await createApiKey("to revoke", h.db);
    const c = new OpenAI({ baseURL, apiKey: other, maxRetries: 0 });
    expect((await c.models.list()).data.length).toBeGreaterThan(0);
    await revokeApiKey(row.id, h.db);
    await expect(c.models.list()).rejects.toMatchObject({ status: 401 });
    const noKey = await fetch(`${baseURL}/models`);
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toMatchObject({ error: { type: "authentication_error", code: "invalid_api_key" } });
    await setLocalApiWithoutKey(true, h.db);
    try {
      expect((await fetch(`${baseURL}/models`)).status).toBe(200);
    } finally {
      await setLocalApiWithoutKey(false, h.db);
    }
  });
});

describe("OpenAI-compatible API (Python openai client)", () => {
  it("models, a completion and a stream naming Greatbot, 401, 400 naming the field, 404", async () => {
    const python = path.join(ROOT, ".venv", "bin", "python");
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(python, [path.join(ROOT, "worker", "test-support", "openai_client_check.py"), baseURL, key, GREATBOT], { timeout: 300_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
      ),
    );
    const out = JSON.parse(stdout);
    expect(out.models).toEqual(expect.arrayContaining(["tuneboard-demo", GREATBOT, CLEVERBOT]));
    expect(out.text).toContain("Greatbot");
    expect(out.stream_text).toBe(out.text);
    expect(out.stream_chunks).toBeGreaterThan(2);
    expect(out.stream_usage).toEqual(out.usage);
    expect(out.wrong_key.status).toBe(401);
    expect(out.malformed).toMatchObject({ status: 400 });
    expect(out.malformed.message).toContain("messages[0].content");
    expect(out.unknown_model.status).toBe(404);
  }, 300_000);
});
