// The real server (server.ts, built Next app) with an access token: every page, API route and
// socket needs a login; a non-loopback address without a token refuses to start.
// Needs `next build` (npm test's set-up does it).
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io as connect } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "@/lib/test-support/start-server";
import { seedFromTemplates } from "@/lib/test-support/temp-data";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");
const TOKEN = "correct-horse-battery-staple-42";
const PORT = 3000 + Math.floor(Math.random() * 2000) + 2000;
const base = `http://127.0.0.1:${PORT}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-auth-"));
let server: ChildProcess;

function serverEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: "production" as const,
    DATABASE_URL: `file:${path.join(dir, "auth.db")}`,
    TUNEBOARD_DATA_DIR: path.join(dir, "data"),
    TUNEBOARD_RUNS_DIR: path.join(dir, "runs"),
    TUNEBOARD_EXPORTS_DIR: path.join(dir, "exports"),
    TUNEBOARD_WORKER_TOKEN: "worker-token-0123456789abcdef",
    ...extra,
  };
}

beforeAll(async () => {
  await seedFromTemplates(path.join(dir, "data"));
  const { migrateDeploy } = await import("@/prisma/migrate");
  await migrateDeploy(`file:${path.join(dir, "auth.db")}`, { log: () => {} });
  server = (await startServer(serverEnv({ PORT: String(PORT), TUNEBOARD_TOKEN: TOKEN }), 60_000)).child;
});
afterAll(() => {
  server?.kill("SIGTERM");
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("access token", () => {
  it("refuses to start on a non-loopback address without a token", () => {
    const child = spawn(TSX, ["server.ts"], { cwd: ROOT, env: serverEnv({ HOST: "0.0.0.0", PORT: String(PORT + 1) }), stdio: "pipe" });
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    return new Promise<void>((resolve) =>
      child.on("exit", (code) => {
        expect(code).toBe(1);
        expect(err).toMatch(/TUNEBOARD_TOKEN/);
        resolve();
      }),
    );
  });

  it("redirects pages to /login and refuses API routes without a session", async () => {
    for (const p of ["/", "/runs", "/train", "/datasets", "/chat", "/runs/1"]) {
      const res = await fetch(base + p, { redirect: "manual" });
      expect(res.status, p).toBe(303);
      expect(res.headers.get("location")).toBe("/login");
    }
    // API routes, and server actions (a POST to a page with a Next-Action header).
    for (const [method, p] of [["POST", "/api/runs"], ["POST", "/api/jobs/1/cancel"], ["POST", "/train"], ["POST", "/datasets"]] as const) {
      const res = await fetch(base + p, { method, redirect: "manual", body: "{}", headers: { "content-type": "application/json" } });
      expect(res.status, p).toBe(401);
    }
  });

  it("refuses the socket without a session", async () => {
    const socket = connect(base, { transports: ["websocket"], reconnection: false, forceNew: true });
    const err = await new Promise<Error>((r) => socket.once("connect_error", r));
    socket.close();
    expect(err.message).toBe("unauthorized");
  });

  it("logs in with the right token only, then serves pages and the socket", async () => {
    const wrong = await fetch(`${base}/login`, { method: "POST", body: new URLSearchParams({ token: "nope" }), redirect: "manual" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();

    const ok = await fetch(`${base}/login`, { method: "POST", body: new URLSearchParams({ token: TOKEN }), redirect: "manual" });
    expect(ok.status).toBe(303);
    const cookie = ok.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const session = cookie.split(";")[0];

    const page = await fetch(`${base}/runs`, { headers: { cookie: session } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Runs");

    const socket = connect(base, { transports: ["websocket"], reconnection: false, forceNew: true, extraHeaders: { cookie: session } });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    });
    socket.close();
  });
});
