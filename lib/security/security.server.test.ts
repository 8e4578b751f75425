// The real server (server.ts, built Next app) in token mode, probed as an attacker would from
// outside the browser: foreign Host headers, cross-site headers, a malformed cookie, login
// guessing, expired and revoked sessions, oversized bodies, symlinks planted in a run folder,
// weak tokens and non-loopback names at start-up. (The browser attacks: e2e/security.spec.ts.)
// Needs `next build` (npm test's set-up does it).
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io as connect } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type StartedServer } from "@/lib/test-support/start-server";
import { createDb, type Db } from "@/lib/db";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");
const TOKEN = "correct-horse-battery-staple-42";
const WORKER_TOKEN = "worker-token-0123456789abcdef";
const PORT = 3000 + Math.floor(Math.random() * 2000) + 4000;
const base = `http://127.0.0.1:${PORT}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-security-"));
const dbUrl = `file:${path.join(dir, "security.db")}`;
const runsDir = path.join(dir, "runs");
let server: StartedServer;
let client: Db;

function serverEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: "production" as const,
    DATABASE_URL: dbUrl,
    TUNEBOARD_DATA_DIR: path.join(ROOT, "data"),
    TUNEBOARD_RUNS_DIR: runsDir,
    TUNEBOARD_WORKER_TOKEN: WORKER_TOKEN,
    ...extra,
  };
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request with any headers (Host included), from any loopback source address. */
function raw(method: string, p: string, headers: Record<string, string>, body?: string, localAddress?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: PORT, method, path: p, headers, localAddress, agent: false }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function login(localAddress?: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await raw("POST", "/login", { host: `127.0.0.1:${PORT}`, "content-type": "application/x-www-form-urlencoded", ...headers }, `token=${TOKEN}`, localAddress);
  expect(res.status).toBe(303);
  return String(res.headers["set-cookie"]).split(";")[0];
}

/** Resident memory of the server process and its children (tsx starts node as a child), KiB. */
function treeRssKib(pid: number): number {
  let total = 0;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const kids = fs.readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      for (const kid of kids ? kids.split(/\s+/) : []) total += treeRssKib(Number(kid));
    }
  } catch {
    // a process that just exited
  }
  return total;
}

beforeAll(async () => {
  const { migrateDeploy } = await import("@/prisma/migrate");
  await migrateDeploy(dbUrl, { log: () => {} });
  client = createDb(dbUrl);
  server = await startServer(serverEnv({ PORT: String(PORT), TUNEBOARD_TOKEN: TOKEN }), 90_000);
});
afterAll(async () => {
  server?.child.kill("SIGTERM");
  await client?.$disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
});

function expectExit(extra: Record<string, string>, message: RegExp): Promise<void> {
  const child = spawn(TSX, ["server.ts"], { cwd: ROOT, env: serverEnv({ PORT: String(PORT + 1), ...extra }), stdio: "pipe" });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  return new Promise<void>((resolve) =>
    child.on("exit", (code) => {
      expect(code).toBe(1);
      expect(err).toMatch(message);
      resolve();
    }),
  );
}

describe("start-up", () => {
  it("refuses weak tokens", async () => {
    await expectExit({ TUNEBOARD_TOKEN: " ".repeat(16) }, /TUNEBOARD_TOKEN must not contain spaces/);
    await expectExit({ TUNEBOARD_TOKEN: "abcdefghijklmnop", HOST: "0.0.0.0" }, /TUNEBOARD_TOKEN is too guessable/);
  });
  it("decides loopback on resolved addresses: a name that only looks like 127.x needs a token", async () => {
    await expectExit({ HOST: "127.not-a-loopback.invalid" }, /does not resolve to loopback/);
  });
});

describe("DNS rebinding: a foreign Host is refused everywhere", () => {
  it("pages, API routes, server actions, login and the socket handshake", async () => {
    const cookie = await login();
    const host = `attacker.example:${PORT}`;
    for (const [method, p, extra] of [
      ["GET", "/runs", {}],
      ["GET", "/api/runs", {}],
      ["POST", "/api/runs", { "content-type": "application/json" }],
      ["POST", "/train", { "next-action": "x", origin: `http://${host}` }],
      ["POST", "/login", { "content-type": "application/x-www-form-urlencoded" }],
      ["GET", "/socket.io/?EIO=4&transport=polling", {}],
      ["GET", "/api/worker/jobs/1/bundle", { authorization: `Bearer ${WORKER_TOKEN}` }],
    ] as const) {
      const res = await raw(method, p, { host, cookie, ...extra }, method === "POST" ? "{}" : undefined);
      expect(res.status, `${method} ${p}`).toBe(403);
      expect(res.body).not.toMatch(/Runs|at .*\.ts/);
    }
  });
});

describe("cross-site requests with a logged-in cookie", () => {
  it("are refused on API routes, actions and the socket; same-origin passes", async () => {
    const cookie = await login();
    const host = `127.0.0.1:${PORT}`;
    const before = await client.job.count();
    const attempts: Array<Record<string, string>> = [
      { origin: `http://127.0.0.1:${PORT + 1}`, "sec-fetch-site": "same-site", "content-type": "application/json" },
      { origin: `http://localhost:${PORT}`, "sec-fetch-site": "cross-site", "content-type": "application/json" },
      { origin: "null", "content-type": "application/json" },
      { "sec-fetch-site": "same-origin", origin: `http://${host}`, "content-type": "text/plain" },
    ];
    for (const h of attempts) {
      const res = await raw("POST", "/api/runs", { host, cookie, ...h }, JSON.stringify({ dataset: ["identity"] }));
      expect([403, 415], JSON.stringify(h)).toContain(res.status);
    }
    expect(await client.job.count()).toBe(before);
    const ok = await raw("POST", "/api/runs", { host, cookie, origin: `http://${host}`, "sec-fetch-site": "same-origin", "content-type": "application/json" }, "{}");
    expect(ok.status).toBe(422); // passed the guard and the login; refused by validation
    const polling = await raw("GET", "/socket.io/?EIO=4&transport=polling", { host, cookie, origin: `http://localhost:${PORT + 1}`, "sec-fetch-site": "cross-site" });
    expect(polling.status).toBe(403);
  });
});

describe("login", () => {
  it("throttles per client address and logs failures: the 51st wrong token within a minute is refused", async () => {
    const attacker = "127.0.0.3";
    const statuses: number[] = [];
    for (let i = 0; i < 51; i++) {
      const res = await raw("POST", "/login", { host: `127.0.0.1:${PORT}`, "content-type": "application/x-www-form-urlencoded" }, `token=guess-${i}`, attacker);
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses[50]).toBe(429);
    // Even the right token is refused while the client is backing off...
    const right = await raw("POST", "/login", { host: `127.0.0.1:${PORT}`, "content-type": "application/x-www-form-urlencoded" }, `token=${TOKEN}`, attacker);
    expect(right.status).toBe(429);
    expect(Number(right.headers["retry-after"])).toBeGreaterThan(0);
    // ...but another client is not.
    await login("127.0.0.4");
    expect(server.output()).toMatch(new RegExp(`\\[auth\\] wrong token from (::ffff:)?${attacker.replaceAll(".", "\\.")} \\(5 in the last minute\\)`));
    expect(server.output()).toMatch(/\[auth\] login from .*127\.0\.0\.3 refused: too many wrong tokens/);
  });

  it("a malformed cookie is simply not logged in: login redirect, 401, socket refused, no stack trace", async () => {
    const host = `127.0.0.1:${PORT}`;
    const page = await raw("GET", "/runs", { host, cookie: "tuneboard_session=%" });
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe("/login");
    const api = await raw("GET", "/api/runs", { host, cookie: "tuneboard_session=%" });
    expect(api.status).toBe(401);
    expect(api.body).toBe(JSON.stringify({ error: "login required" }));
    const socket = connect(base, { transports: ["websocket"], reconnection: false, forceNew: true, extraHeaders: { cookie: "tuneboard_session=%" } });
    const err = await new Promise<Error>((r) => socket.once("connect_error", r));
    socket.close();
    expect(err.message).toBe("unauthorized");
  });

  it("sessions rotate on login, end at logout, and an expired one is refused", async () => {
    const host = `127.0.0.1:${PORT}`;
    const first = await login();
    const second = await login(undefined, { cookie: first });
    expect(second).not.toBe(first);
    expect((await raw("GET", "/api/runs", { host, cookie: first })).status).toBe(401);
    expect((await raw("GET", "/api/runs", { host, cookie: second })).status).toBe(200);
    const out = await raw("POST", "/logout", { host, cookie: second });
    expect(out.status).toBe(303);
    expect(String(out.headers["set-cookie"])).toMatch(/Max-Age=0/);
    expect((await raw("GET", "/api/runs", { host, cookie: second })).status).toBe(401);

    const third = await login();
    expect((await raw("GET", "/api/runs", { host, cookie: third })).status).toBe(200);
    await client.session.updateMany({ data: { expiresAt: Date.now() - 1 } });
    expect((await raw("GET", "/runs", { host, cookie: third })).status).toBe(303);
  });

  it("speaks the UI's language: the tb_locale cookie, else Accept-Language", async () => {
    const zh = await raw("GET", "/login", { host: `127.0.0.1:${PORT}`, "accept-language": "zh-CN,zh;q=0.9" });
    expect(zh.body).toContain("访问令牌");
    expect(zh.body).toContain('lang="zh-CN"');
    const en = await raw("POST", "/login", { host: `127.0.0.1:${PORT}`, cookie: "tb_locale=en", "accept-language": "zh", "content-type": "application/x-www-form-urlencoded" }, "token=nope", "127.0.0.5");
    expect(en.body).toContain("Wrong token.");
  });

  it("sets Secure behind HTTPS, and security headers on every response", async () => {
    const res = await raw("POST", "/login", { host: `127.0.0.1:${PORT}`, "x-forwarded-proto": "https", "content-type": "application/x-www-form-urlencoded" }, `token=${TOKEN}`);
    expect(String(res.headers["set-cookie"])).toMatch(/; Secure/);
    const page = await raw("GET", "/login", { host: `127.0.0.1:${PORT}` });
    expect(page.headers["content-security-policy"]).toMatch(/frame-ancestors 'none'/);
    expect(page.headers["x-content-type-options"]).toBe("nosniff");
    expect(page.headers["referrer-policy"]).toBe("same-origin");
    const cookie = await login();
    const app = await raw("GET", "/runs", { host: `127.0.0.1:${PORT}`, cookie });
    expect(app.status).toBe(200);
    expect(app.headers["content-security-policy"]).toMatch(/frame-ancestors 'none'/);
  });
});

describe("body caps", () => {
  it("a 50 MB body is refused from its Content-Length, before it is read", async () => {
    const pid = server.child.pid!;
    const rssBefore = treeRssKib(pid);
    const total = 50 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    // The headers go first; then the body is pumped until the server closes the connection.
    const result = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
      let sent = 0;
      let status = 0;
      const req = http.request(
        { host: "127.0.0.1", port: PORT, method: "POST", path: "/api/runs", agent: false, headers: { host: `127.0.0.1:${PORT}`, "content-type": "application/json", "content-length": String(total) } },
        (res) => {
          status = res.statusCode!;
          res.resume();
        },
      );
      const done = () => (status ? resolve({ status, sent }) : reject(new Error(`no answer after ${sent} bytes`)));
      req.on("error", done); // EPIPE / ECONNRESET: the server hung up without reading the body
      req.on("close", done);
      req.flushHeaders();
      const pump = () => {
        if (req.destroyed) return;
        if (sent >= total) return void req.end();
        sent += chunk.length;
        if (req.write(chunk)) setImmediate(pump);
        else req.once("drain", pump);
      };
      setTimeout(pump, 300);
    });
    expect(result.sent).toBeLessThan(total);
    expect(result.status).toBe(413);
    const grownMib = (treeRssKib(pid) - rssBefore) / 1024;
    expect(grownMib).toBeLessThan(25);
    // A chunked body (no Content-Length) is refused outright on ordinary routes.
    const chunked = await raw("POST", "/api/runs", { host: `127.0.0.1:${PORT}`, "content-type": "application/json", "transfer-encoding": "chunked" }, "{}");
    expect(chunked.status).toBe(411);
  });
});

describe("worker upload route", () => {
  it("stops a chunked upload at its cap without buffering the rest", async () => {
    const job = await client.job.create({ data: { name: "upload", config: "{}", modelPath: "/m", datasets: "", status: "running", workerId: "w2" } });
    const pid = server.child.pid!;
    const rssBefore = treeRssKib(pid);
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const total = 40 * 1024 * 1024;
    const result = await new Promise<{ status: number; sent: number }>((resolve, reject) => {
      let sent = 0;
      let status = 0;
      const req = http.request(
        {
          host: "127.0.0.1",
          port: PORT,
          method: "PUT",
          path: `/api/worker/jobs/${job.id}/artifacts/big.bin?offset=0`,
          agent: false,
          headers: { host: `127.0.0.1:${PORT}`, authorization: `Bearer ${WORKER_TOKEN}`, "x-tuneboard-worker": "w2", "content-type": "application/octet-stream", "transfer-encoding": "chunked" },
        },
        (res) => {
          status = res.statusCode!;
          res.resume();
          res.on("end", () => req.destroy());
        },
      );
      const done = () => (status ? resolve({ status, sent }) : reject(new Error(`no answer after ${sent} bytes`)));
      req.on("error", done);
      req.on("close", done);
      const pump = () => {
        if (req.destroyed || status) return;
        if (sent >= total) return void req.end();
        sent += chunk.length;
        if (req.write(chunk)) setImmediate(pump);
        else req.once("drain", pump);
      };
      pump();
    });
    expect(result.status).toBe(413);
    expect(result.sent).toBeLessThan(total);
    expect((treeRssKib(pid) - rssBefore) / 1024).toBeLessThan(30);
    expect(fs.existsSync(path.join(runsDir, `run-${job.id}`, ".uploads", "big.bin.part"))).toBe(false);
  });
});

describe("worker file routes", () => {
  it("never follow a symlink planted in a run folder (read or write)", async () => {
    const job = await client.job.create({
      data: { name: "held", config: "{}", modelPath: "/m", datasets: "", status: "running", workerId: "w1" },
    });
    const runDir = path.join(runsDir, `run-${job.id}`);
    const outside = path.join(dir, "outside");
    fs.mkdirSync(runDir, { recursive: true });
    fs.mkdirSync(outside, { recursive: true });
    fs.writeFileSync(path.join(outside, "secret.txt"), "secret");
    fs.writeFileSync(path.join(runDir, "ok.txt"), "fine");
    fs.symlinkSync(outside, path.join(runDir, "link"));
    fs.symlinkSync(path.join(outside, "secret.txt"), path.join(runDir, "file-link.txt"));
    const auth = { host: `127.0.0.1:${PORT}`, authorization: `Bearer ${WORKER_TOKEN}`, "x-tuneboard-worker": "w1" };
    const url = (p: string) => `/api/worker/jobs/${job.id}/artifacts/${p}`;

    expect((await raw("GET", url("ok.txt"), auth)).body).toBe("fine");
    for (const p of ["link/secret.txt", "file-link.txt"]) {
      const res = await raw("GET", url(p), auth);
      expect(res.status, p).toBe(400);
      expect(res.body).not.toContain("secret");
    }
    const put = await raw("PUT", `${url("link/evil.txt")}?offset=0`, { ...auth, "content-type": "application/octet-stream" }, "evil");
    expect(put.status).toBe(400);
    // The uploads folder replaced by a link: writes refused too.
    fs.symlinkSync(outside, path.join(runDir, ".uploads"));
    const put2 = await raw("PUT", `${url("new.txt")}?offset=0`, { ...auth, "content-type": "application/octet-stream" }, "evil");
    expect(put2.status).toBe(400);
    expect(fs.readdirSync(outside)).toEqual(["secret.txt"]);
    const listing = JSON.parse((await raw("GET", `/api/worker/jobs/${job.id}/artifacts`, auth)).body) as { files: Array<{ path: string }> };
    expect(listing.files.map((f) => f.path)).toEqual(["ok.txt"]);
  });
});
