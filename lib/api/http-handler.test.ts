// The /v1 handler's answers that need no worker: no capacity (503 / 429), unknown URL, wrong
// method, unparseable JSON, all in OpenAI's error shape, over real HTTP on a temp database.
import fs from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateDeploy } from "@/prisma/migrate";
import { createDb, type Db } from "@/lib/db";
import { createApiKey } from "./keys";
import { handleApiRequest, type ApiChatStart } from "./http-handler";

const ROOT = path.resolve(__dirname, "..", "..");
let dir: string;
let db: Db;
let server: Server;
let base: string;
let key: string;
let answer: ReturnType<ApiChatStart> = { error: "no-worker" };

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-v1-"));
  const url = `file:${path.join(dir, "t.db")}`;
  await migrateDeploy(url, { log: () => {} });
  db = createDb(url);
  key = (await createApiKey("t", db)).key;
  server = createServer((req, res) =>
    void handleApiRequest(req, res, { db, modelRoots: [path.join(ROOT, "data", "models")], runsDir: path.join(dir, "runs"), apiChat: () => answer }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.close();
  await db.$disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
});

const post = (body: string) =>
  fetch(`${base}/chat/completions`, { method: "POST", headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" }, body });
const ask = JSON.stringify({ model: "tuneboard-demo", messages: [{ role: "user", content: "hi" }] });

describe("/v1 without a worker", () => {
  it("503 when no worker is connected, 429 when too many requests wait", async () => {
    answer = { error: "no-worker" };
    const r = await post(ask);
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ error: { type: "server_error", code: "no_worker", param: null } });
    answer = { error: "busy" };
    expect((await post(ask)).status).toBe(429);
  });

  it("unparseable JSON is 400; an unknown URL 404; a wrong method 405", async () => {
    const bad = await post("{not json");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/parse the JSON body/);
    const unknown = await fetch(`${base}/completions`, { headers: { Authorization: `Bearer ${key}` } });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "unknown_url" } });
    expect((await fetch(`${base}/chat/completions`, { headers: { Authorization: `Bearer ${key}` } })).status).toBe(405);
  });
});
