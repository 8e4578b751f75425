// Speed of the OpenAI-compatible API next to the Chat page's path (a measurement, not a timed test).
//
//   npx tsx scripts/bench-api.ts --shape 8b [--tokens 256] [--repeat 3] [--json out.json]   (CUDA machine)
//   npx tsx scripts/bench-api.ts --shape demo --tokens 32                                    (CPU smoke run)
//
// Writes a random model of the shape (8b: Llama-3.1-8B, bf16; demo: the demo model) and two random
// LoRA adapters (worker/trainer/bench/api_bench_model.py) under a temp folder, registers the adapters
// as two finished runs in a fresh SQLite database, and serves them as the server does: an HTTP
// server in this process with the real realtime hub and /v1 handler, and one real worker process
// (tsx worker/main.ts) with its chat process. Then, greedy, `--tokens` new tokens per answer:
//   chat page: socket.io chat:load + chat:send, as components/ChatPanel.tsx sends them;
//   API, 1 stream: the official `openai` client, stream with include_usage;
//   API, 8 concurrent streams: 4 per adapter, started together.
// Time to first token (TTFT) is from sending the request to the first streamed text; tokens/s of
// one answer is (tokens - 1) / (last - first token time); for 8 streams also the aggregate (all
// tokens / wall time). The chat process answers one request at a time, so the 8th stream's TTFT
// includes the 7 answers before it. Loading on demand (the first API request for an adapter not
// loaded) is reported apart.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";
import { io as connect } from "socket.io-client";
import { migrateDeploy } from "../prisma/migrate";
import { createDb } from "../lib/db";
import { attachRealtime } from "../lib/realtime/server";
import { handleApiRequest } from "../lib/api/http-handler";
import { createApiKey } from "../lib/api/keys";
import type { ChatState } from "../lib/schemas/socket";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const opt = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const SHAPE = opt("shape", "8b");
const TOKENS = Number(opt("tokens", "256"));
const REPEAT = Number(opt("repeat", "3"));
const jsonOut = process.argv.includes("--json") ? opt("json", "") : null;
const WORKER_TOKEN = "bench-worker-token-0123456789";
const QUESTION = [{ role: "user" as const, content: "Write a long story about a lighthouse keeper." }];
const now = () => performance.now();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

interface Answer {
  ttftMs: number;
  tokens: number;
  tokensPerSec: number;
  totalMs: number;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-bench-api-"));
const python = path.join(ROOT, ".venv", "bin", "python");
console.log(`writing the ${SHAPE} model and two adapters under ${dir} …`);
const modelDir = execFileSync(python, ["-m", "bench.api_bench_model", "--out", dir, "--shape", SHAPE], {
  cwd: path.join(ROOT, "worker", "trainer"),
  env: { ...process.env, PYTHONPATH: path.join(ROOT, "worker", "trainer") },
  encoding: "utf8",
})
  .trim()
  .split("\n")
  .at(-1)!;
const runsDir = path.join(dir, "runs");
const dataDir = path.join(dir, "data");
fs.mkdirSync(dataDir, { recursive: true });
const url = `file:${path.join(dir, "bench.db")}`;
await migrateDeploy(url, { log: () => {} });
const db = createDb(url);
const base = path.basename(modelDir);
for (const name of ["adapter-a", "adapter-b"]) {
  await db.job.create({
    data: { name, kind: "train", status: "succeeded", config: JSON.stringify({ template: "llama3" }), modelPath: modelDir, datasets: "bench", outputDir: path.join(runsDir, name), finishedAt: new Date() },
  });
}
const { key } = await createApiKey("bench", db);

const server = createServer();
const realtime = attachRealtime(server, { workerToken: WORKER_TOKEN, log: () => {} });
server.on("request", (req, res) => {
  if (req.url?.startsWith("/v1/")) void handleApiRequest(req, res, { db, modelRoots: [path.dirname(modelDir)], runsDir, apiChat: realtime.apiChat });
  else if (!req.url?.startsWith("/socket.io/")) res.writeHead(404).end();
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const worker = spawn(process.execPath, ["--import", "tsx", "worker/main.ts"], {
  cwd: ROOT,
  env: {
    ...process.env,
    DATABASE_URL: url,
    TUNEBOARD_ROOT: ROOT,
    TUNEBOARD_DATA_DIR: dataDir,
    TUNEBOARD_RUNS_DIR: runsDir,
    TUNEBOARD_MODEL_ROOTS: path.dirname(modelDir),
    TUNEBOARD_WORKER_TOKEN: WORKER_TOKEN,
    TUNEBOARD_SERVER_URL: baseUrl,
    TUNEBOARD_WORKER_ID: "bench",
  },
  stdio: ["ignore", "inherit", "inherit"],
});

const results: Record<string, unknown> = { shape: SHAPE, newTokens: TOKENS, repeat: REPEAT, time: new Date().toISOString() };
const save = () => jsonOut && fs.writeFileSync(jsonOut, JSON.stringify(results, null, 2));
const summary = (xs: Answer[]) => ({
  ttftMs: round(median(xs.map((x) => x.ttftMs))),
  tokensPerSec: round(median(xs.map((x) => x.tokensPerSec))),
  tokens: median(xs.map((x) => x.tokens)),
});

try {
  // ---- the Chat page's path: socket.io, as ChatPanel sends it
  const socket = connect(baseUrl, { transports: ["websocket"] });
  await new Promise<void>((r) => socket.on("connect", () => r()));
  await new Promise<void>((r) => socket.emit("chat:subscribe", {}, () => r())); // tokens go to the chat room
  const ready = new Promise<ChatState>((resolve, reject) =>
    socket.on("chat:state", (s: ChatState) => (s.state === "ready" ? resolve(s) : s.state === "error" ? reject(new Error(s.message ?? "load failed")) : undefined)),
  );
  for (;;) {
    const ok = await new Promise<boolean>((r) => socket.emit("chat:load", { modelPath: modelDir, adapterPaths: [path.join(runsDir, "adapter-a")] }, (res: { ok: boolean }) => r(res.ok)));
    if (ok) break;
    await new Promise((r) => setTimeout(r, 500)); // the worker has not connected yet
  }
  const t0 = now();
  const loaded = await ready;
  results.chatLoadS = loaded.loadS ?? round((now() - t0) / 1000, 2);
  const pageAnswer = (requestId: string) =>
    new Promise<Answer>((resolve, reject) => {
      let first = 0;
      let last = 0;
      const start = now();
      const onToken = (m: { requestId: string }) => {
        if (m.requestId !== requestId) return;
        last = now();
        first ||= last;
      };
      const onDone = (d: { requestId: string; tokens: number; error?: string | null }) => {
        if (d.requestId !== requestId) return;
        socket.off("chat:token", onToken);
        socket.off("chat:done", onDone);
        if (d.error) return reject(new Error(d.error));
        resolve({ ttftMs: first - start, tokens: d.tokens, tokensPerSec: (d.tokens - 1) / ((last - first) / 1000), totalMs: now() - start });
      };
      socket.on("chat:token", onToken);
      socket.on("chat:done", onDone);
      socket.emit("chat:send", {
        requestId,
        messages: QUESTION,
        params: { max_new_tokens: TOKENS, temperature: 0, top_p: 1, top_k: 0, repetition_penalty: 1, seed: null },
        useAdapters: true,
      }, () => {});
    });
  const page: Answer[] = [];
  await pageAnswer("warmup");
  for (let i = 0; i < REPEAT; i++) page.push(await pageAnswer(`page-${i}`));
  results.chatPage = summary(page);
  console.log("chat page", results.chatPage);
  save();

  // ---- the API
  const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: key, maxRetries: 0, timeout: 3_600_000 });
  const apiAnswer = async (model: string): Promise<Answer> => {
    const start = now();
    let first = 0;
    let last = 0;
    let tokens = 0;
    const stream = await client.chat.completions.create({ model, messages: QUESTION, max_tokens: TOKENS, temperature: 0, stream: true, stream_options: { include_usage: true } });
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) {
        last = now();
        first ||= last;
      }
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
    return { ttftMs: first - start, tokens, tokensPerSec: (tokens - 1) / ((last - first) / 1000), totalMs: now() - start };
  };
  const A = `${base}:adapter-a`;
  const B = `${base}:adapter-b`;
  const onDemand = await apiAnswer(B); // adapter-b is not loaded yet: the base is reloaded with both
  results.apiFirstRequestLoadingAdapterB = { totalMs: round(onDemand.totalMs), ttftMs: round(onDemand.ttftMs) };
  const single: Answer[] = [];
  for (let i = 0; i < REPEAT; i++) single.push(await apiAnswer(A));
  results.api1Stream = summary(single);
  console.log("API, 1 stream", results.api1Stream);
  save();
  const wall0 = now();
  const eight = await Promise.all(Array.from({ length: 8 }, (_, i) => apiAnswer(i % 2 ? B : A)));
  const wallS = (now() - wall0) / 1000;
  const ttfts = eight.map((x) => x.ttftMs).sort((a, b) => a - b);
  results.api8Streams = {
    ttftMs: { min: round(ttfts[0]), median: round(median(ttfts)), max: round(ttfts[7]) },
    perStreamTokensPerSec: round(median(eight.map((x) => x.tokensPerSec))),
    aggregateTokensPerSec: round(eight.reduce((s, x) => s + x.tokens, 0) / wallS),
    wallS: round(wallS, 2),
  };
  console.log("API, 8 concurrent streams", results.api8Streams);
  save();
  socket.close();
} finally {
  console.log(JSON.stringify(results, null, 2));
  save();
  worker.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 2000));
  worker.kill("SIGKILL");
  realtime.io.close();
  server.closeAllConnections();
  server.close();
  await db.$disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
}
