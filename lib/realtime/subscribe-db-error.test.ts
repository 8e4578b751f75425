// job:subscribe when the database cannot be read (here: a file with no tables): the browser gets
// ok: false, and the server process survives (no unhandled rejection) and keeps answering.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { io as connect, type Socket } from "socket.io-client";
import { afterAll, beforeAll, expect, it } from "vitest";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-rt-dberr-"));
process.env.DATABASE_URL = `file:${path.join(dir, "empty.db")}`; // never migrated
let http: Server;
let socket: Socket;
const logs: string[] = [];

beforeAll(async () => {
  const { attachRealtime } = await import("./server");
  http = createServer();
  attachRealtime(http, { workerToken: "worker-token-for-tests-0123", log: (m) => logs.push(m) });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  socket = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ["websocket"], reconnection: false, forceNew: true });
  await new Promise<void>((r) => socket.once("connect", () => r()));
});
afterAll(async () => {
  socket?.close();
  await new Promise<void>((r) => http.close(() => r()));
  const { db } = await import("@/lib/db");
  await db().$disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
});

it("answers ok: false instead of crashing the server", async () => {
  for (let i = 0; i < 2; i++) {
    const res = await socket.timeout(10_000).emitWithAck("job:subscribe", { jobId: 1 });
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.error).toMatch(/could not read/);
  }
  expect(logs.some((l) => l.includes("job:subscribe 1: could not read the run"))).toBe(true);
});
