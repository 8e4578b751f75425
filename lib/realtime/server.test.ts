// The realtime hub on a real HTTP server with real socket.io clients (a browser and a worker)
// and a real SQLite database for the run history.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { io as connect, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-rt-"));
const url = `file:${path.join(dir, "rt.db")}`;
process.env.DATABASE_URL = url;
const WORKER_TOKEN = "worker-token-for-tests-0123";

let http: Server;
let base: string;
let jobId: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  const { migrateDeploy } = await import("@/prisma/migrate");
  await migrateDeploy(url, { log: () => {} });
  const { db } = await import("@/lib/db");
  const job = await db().job.create({ data: { name: "rt", config: "{}", modelPath: "/m", datasets: "d", status: "running", totalSteps: 10 } });
  jobId = job.id;
  await db().metric.create({ data: { jobId, step: 1, epoch: 0.1, loss: 2.5, lr: 1e-3 } });
  const { attachRealtime } = await import("./server");
  http = createServer();
  attachRealtime(http, { workerToken: WORKER_TOKEN, log: () => {} });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const s of sockets) s.close();
  await new Promise<void>((r) => http.close(() => r()));
  const { db } = await import("@/lib/db");
  await db().$disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
});

function client(nsp = "", auth?: Record<string, string>): Socket {
  const s = connect(`${base}${nsp}`, { transports: ["websocket"], auth, reconnection: false, forceNew: true });
  sockets.push(s);
  return s;
}
const once = <T>(s: Socket, ev: string) => new Promise<T>((resolve) => s.once(ev, resolve));

describe("realtime hub", () => {
  it("refuses a worker without the right token", async () => {
    const bad = client("/worker", { token: "wrong", workerId: "w" });
    const err = await once<Error>(bad, "connect_error");
    expect(err.message).toBe("unauthorized");
  });

  it("sends the history on subscribe, relays valid worker events, drops malformed ones", async () => {
    const browser = client();
    await once(browser, "connect");
    const snap = await browser.emitWithAck("job:subscribe", { jobId });
    expect(snap.ok).toBe(true);
    expect(snap.data.points.map((p: { step: number }) => p.step)).toEqual([1]);
    expect(snap.data.job.status).toBe("running");

    const worker = client("/worker", { token: WORKER_TOKEN, workerId: "w1" });
    await once(worker, "connect");
    const received: unknown[] = [];
    browser.on("job:metric", (m) => received.push(m));
    worker.emit("job:metric", { jobId, point: { step: 2, epoch: "not a number" } }); // malformed: dropped
    const point = { step: 3, epoch: 0.3, loss: 2.1, lr: 1e-3, gradNorm: null, tokens: 100, tokensPerSec: 50, elapsedS: 2 };
    worker.emit("job:metric", { jobId, point });
    await new Promise((r) => setTimeout(r, 300));
    expect(received).toEqual([{ jobId, point }]);
  });

  it("does not send one run's events to another run's room", async () => {
    const browser = client();
    await once(browser, "connect");
    await browser.emitWithAck("job:subscribe", { jobId });
    const worker = client("/worker", { token: WORKER_TOKEN, workerId: "w2" });
    await once(worker, "connect");
    const got: unknown[] = [];
    browser.on("job:metric", (m) => got.push(m));
    worker.emit("job:metric", { jobId: jobId + 100, point: { step: 1, epoch: 0, loss: 1, lr: 1, gradNorm: null, tokens: null, tokensPerSec: null, elapsedS: null } });
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual([]);
  });

  it("rejects a bad subscribe payload with a message", async () => {
    const browser = client();
    await once(browser, "connect");
    const res = await browser.emitWithAck("job:subscribe", { jobId: "x" });
    expect(res).toEqual({ ok: false, error: "jobId must be a positive integer" });
  });
});
