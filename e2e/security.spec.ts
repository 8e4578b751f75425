// Nobody else's web page may drive Tuneboard. In real Chromium, a page served from a second
// local origin (another port; `localhost` vs `127.0.0.1`) tries a cross-site form POST, a
// no-cors text/plain fetch, a server action form and a socket.io connection against Tuneboard,
// in both modes: no token (the e2e server) and token mode (a second server started here, with
// the victim logged in). Runs, saved configurations, sessions and datasets are counted before
// and after: nothing changes. A same-origin request with the same payload does create a run
// (the attacks' payloads are valid). DNS rebinding: Chromium maps attacker.test to 127.0.0.1.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { expect, test, type Page } from "./helpers/test";
import { DEFAULT_RUN_CONFIG } from "../lib/schemas/run-config";

test.describe.configure({ mode: "serial" });

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");
const E2E_PORT = Number(process.env.E2E_PORT ?? 3210);
const TOKEN_PORT = E2E_PORT + 100;
const ATTACK_PORT = E2E_PORT + 200;
const TOKEN = "correct-horse-battery-staple-42";
const E2E_DB = path.join(ROOT, "e2e", ".artifacts", "e2e.db");
const E2E_DATA = path.join(ROOT, "e2e", ".artifacts", "data");
const tokenDir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-e2e-security-"));
const TOKEN_DB = path.join(tokenDir, "token.db");

// DNS rebinding: attacker.test resolves to this machine, as an attacker's DNS would make it.
test.use({
  launchOptions: {
    executablePath: process.env.TUNEBOARD_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP attacker.test 127.0.0.1"],
  },
});

// A valid run (the demo model, one step): what an attacker would queue.
const RUN = { ...DEFAULT_RUN_CONFIG, model_name_or_path: "tuneboard-demo", dataset: ["identity"], max_steps: 1, cutoff_len: 64, name: "csrf" };

/** The attacker's page: every attack, results in window.results. */
function attackerPage(target: string, action: Array<[string, string]>): string {
  return `<!doctype html><html><body><iframe name="sink1"></iframe><iframe name="sink2"></iframe><script>
const target = ${JSON.stringify(target)};
const run = ${JSON.stringify(RUN)};
const action = ${JSON.stringify(action)};
window.results = {};
function submit(enctype, url, fields, sink) {
  const f = document.createElement("form");
  f.method = "POST"; f.action = url; f.enctype = enctype; f.target = sink;
  for (const [n, v] of fields) { const i = document.createElement("input"); i.type = "hidden"; i.name = n; i.value = v; f.append(i); }
  document.body.append(f); f.submit();
}
(async () => {
  // 1. A cross-site form POST whose text/plain body is JSON: {"model_name_or_path":…,"pad":"="}
  submit("text/plain", target + "/api/runs", [[JSON.stringify(run).slice(0, -1) + ',"pad":"', '"}']], "sink1");
  // 2. A no-cors fetch with a text/plain body (no preflight).
  try {
    await fetch(target + "/api/runs", { method: "POST", mode: "no-cors", credentials: "include", headers: { "Content-Type": "text/plain" }, body: JSON.stringify(run) });
    results.fetch = "sent";
  } catch (e) { results.fetch = String(e); }
  // 3. A server action, as a multipart form carrying the action's id (known from the public build).
  submit("multipart/form-data", target + "/train", [...action, ["model_name_or_path", run.model_name_or_path], ["dataset", "identity"], ["name", "csrf-action"]], "sink2");
  // 4. socket.io over a WebSocket: join, then ask the worker to load a model.
  results.socket = await new Promise((resolve) => {
    const events = [];
    const ws = new WebSocket(target.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket");
    ws.onmessage = (m) => {
      const data = String(m.data);
      events.push(data);
      if (data.startsWith("0{")) ws.send("40");
      if (data.startsWith("40")) ws.send('42["chat:load",{"modelPath":"tuneboard-demo"}]');
    };
    ws.onerror = () => events.push("error");
    ws.onclose = () => resolve(events);
    setTimeout(() => { ws.close(); resolve(events); }, 3000);
  });
  // 5. socket.io's polling handshake, as a CORS request (its answer would need to be readable).
  try {
    const r = await fetch(target + "/socket.io/?EIO=4&transport=polling", { credentials: "include" });
    results.polling = r.status + " " + (await r.text()).slice(0, 40);
  } catch (e) { results.polling = "blocked"; }
  results.done = true;
})();
</script></body></html>`;
}

let attackTarget = "";
let attackAction: Array<[string, string]> = [];
const attacker = http.createServer((_req, res) => {
  res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(attackerPage(attackTarget, attackAction));
});
let tokenServer: ChildProcess | undefined;

function counts(dbFile: string) {
  const db = new Database(dbFile, { readonly: true });
  try {
    const n = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM "${table}"`).get() as { n: number }).n;
    return { runs: n("Job"), savedConfigs: n("SavedConfig"), sessions: n("Session") };
  } finally {
    db.close();
  }
}

function datasets(dataDir: string) {
  return { datasets: Object.keys(JSON.parse(fs.readFileSync(path.join(dataDir, "dataset_info.json"), "utf8"))).length, files: fs.readdirSync(dataDir).sort().join(",") };
}

/** The hidden fields of the Train form's server action ($ACTION_ID_…), as the public build has them. */
async function actionFields(page: Page, base: string): Promise<Array<[string, string]>> {
  await page.goto(`${base}/train`);
  return page.$$eval("form input[type=hidden][name^='$ACTION']", (els) => els.map((e) => [(e as HTMLInputElement).name, (e as HTMLInputElement).value] as [string, string]));
}

async function attack(page: Page, attackerOrigin: string, target: string, action: Array<[string, string]>) {
  attackTarget = target;
  attackAction = action;
  await page.goto(`${attackerOrigin}/`);
  await page.waitForFunction(() => (window as unknown as { results: { done?: boolean } }).results.done === true, null, { timeout: 30_000 });
  await page.waitForTimeout(1500); // the form posts land in their frames
  return page.evaluate(() => (window as unknown as { results: { socket: string[]; fetch: string; polling: string } }).results);
}

/** socket.io over a WebSocket from the page's own origin (under its CSP): the packets received. */
function ownSocket(page: Page): Promise<string[]> {
  return page.evaluate(
    () =>
      new Promise<string[]>((resolve) => {
        const events: string[] = [];
        const ws = new WebSocket(`${location.origin.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`);
        ws.onmessage = (m) => {
          const data = String(m.data);
          events.push(data);
          if (data.startsWith("0{")) ws.send("40");
          if (data.startsWith("40")) ws.close();
        };
        ws.onclose = () => resolve(events);
        setTimeout(() => (ws.close(), resolve(events)), 5000);
      }),
  );
}

function expectSocketRefused(socket: string[]) {
  expect(socket.some((e) => e.startsWith("0{")), socket.join(" | ")).toBe(false);
  expect(socket.some((e) => e.startsWith("40")), socket.join(" | ")).toBe(false);
}

test.beforeAll(async () => {
  await new Promise<void>((r) => attacker.listen(ATTACK_PORT, "127.0.0.1", () => r()));
  // Token mode: a second server on its own database and data folder.
  const data = path.join(tokenDir, "data");
  fs.mkdirSync(data);
  for (const f of ["dataset_info.json", "identity.json", "identity_heldout.json"]) fs.copyFileSync(path.join(E2E_DATA, f), path.join(data, f));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production" as const,
    PORT: String(TOKEN_PORT),
    HOST: "127.0.0.1",
    DATABASE_URL: `file:${TOKEN_DB}`,
    TUNEBOARD_DATA_DIR: data,
    TUNEBOARD_RUNS_DIR: path.join(tokenDir, "runs"),
    TUNEBOARD_MODEL_ROOTS: path.join(ROOT, "data", "models"),
    TUNEBOARD_WORKER_TOKEN: "e2e-worker-token-0123456789abcdef",
    TUNEBOARD_TOKEN: TOKEN,
  };
  expect(spawnSync(TSX, ["prisma/migrate.ts", "deploy"], { cwd: ROOT, env, stdio: "ignore" }).status).toBe(0);
  tokenServer = spawn(TSX, ["server.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`token-mode server did not start:\n${out}`)), 120_000);
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes("Tuneboard ready")) {
        clearTimeout(timer);
        resolve();
      }
    };
    tokenServer!.stdout!.on("data", onData);
    tokenServer!.stderr!.on("data", onData);
  });
});

test.afterAll(async () => {
  tokenServer?.kill("SIGTERM");
  await new Promise((r) => attacker.close(r));
  fs.rmSync(tokenDir, { recursive: true, force: true });
});

test("no token: pages on another port and on localhost change nothing", async ({ page }) => {
  const victim = `http://127.0.0.1:${E2E_PORT}`;
  const action = await actionFields(page, victim);
  expect(action.length, "the Train form's server-action fields").toBeGreaterThan(0);
  const before = { ...counts(E2E_DB), ...datasets(E2E_DATA) };
  for (const origin of [`http://localhost:${ATTACK_PORT}`, `http://127.0.0.1:${ATTACK_PORT}`]) {
    // The victim as the attacker page names it: the same host (another port) and the other loopback name.
    for (const target of [victim, `http://localhost:${E2E_PORT}`]) {
      const results = await attack(page, origin, target, action);
      expectSocketRefused(results.socket);
      expect(results.polling, `${origin} → ${target}`).not.toMatch(/^200/);
    }
  }
  expect({ ...counts(E2E_DB), ...datasets(E2E_DATA) }).toEqual(before);

  // The same payload from Tuneboard's own page is accepted: the attacks were not refused for their content.
  await page.goto(`${victim}/runs`);
  const created = await page.evaluate(async (run) => {
    const r = await fetch("/api/runs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(run) });
    return { status: r.status, body: (await r.json()) as { id?: number } };
  }, RUN);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  expect((await ownSocket(page)).some((e) => e.startsWith("40"))).toBe(true);
  expect(counts(E2E_DB).runs).toBe(before.runs + 1);
  await page.request.post(`${victim}/api/jobs/${created.body.id}/cancel`);
});

test("token mode, victim logged in: same-site pages (another port) and localhost change nothing", async ({ page, context }) => {
  const victim = `http://127.0.0.1:${TOKEN_PORT}`;
  await page.goto(`${victim}/login`);
  await page.getByLabel("Access token").fill(TOKEN);
  await page.getByRole("button", { name: "Log in" }).click();
  await expect(page).toHaveURL(`${victim}/`);
  const action = await actionFields(page, victim);
  const before = { ...counts(TOKEN_DB), ...datasets(path.join(tokenDir, "data")) };

  const attackPage = await context.newPage();
  for (const origin of [`http://127.0.0.1:${ATTACK_PORT}`, `http://localhost:${ATTACK_PORT}`]) {
    const results = await attack(attackPage, origin, victim, action);
    expectSocketRefused(results.socket);
  }
  expect({ ...counts(TOKEN_DB), ...datasets(path.join(tokenDir, "data")) }).toEqual(before);

  // The victim's own tab still works with its session, and the same payload is accepted from it.
  const created = await page.evaluate(async (run) => {
    const r = await fetch("/api/runs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(run) });
    return r.status;
  }, RUN);
  expect(created).toBe(201);
  expect(counts(TOKEN_DB).runs).toBe(before.runs + 1);
  expect((await ownSocket(page)).some((e) => e.startsWith("40"))).toBe(true);

  // Logging out ends the session: the record is gone and the old cookie no longer opens anything.
  const [cookie] = (await context.cookies(victim)).filter((c) => c.name === "tuneboard_session");
  await page.goto(`${victim}/runs`);
  await page.getByRole("link", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(`${victim}/login`);
  expect(counts(TOKEN_DB).sessions).toBe(before.sessions - 1);
  const replay = await page.request.get(`${victim}/api/runs`, { headers: { cookie: `tuneboard_session=${cookie.value}` } });
  expect(replay.status()).toBe(401);
});

test("DNS rebinding: a page on attacker.test (resolving to 127.0.0.1) gets nothing, in both modes", async ({ page }) => {
  for (const port of [E2E_PORT, TOKEN_PORT]) {
    const db = port === E2E_PORT ? E2E_DB : TOKEN_DB;
    const before = counts(db);
    const res = await page.goto(`http://attacker.test:${port}/runs`);
    expect(res!.status()).toBe(403);
    expect(await page.content()).not.toContain("Runs</");
    // Same-origin from the browser's view (the rebound name), so only the Host check stands in the way.
    const results = await page.evaluate(async (run) => {
      const api = await fetch("/api/runs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(run) });
      const list = await fetch("/api/runs");
      const workers = await fetch("/workers");
      const polling = await fetch("/socket.io/?EIO=4&transport=polling");
      return [api.status, list.status, workers.status, polling.status];
    }, RUN);
    expect(results).toEqual([403, 403, 403, 403]);
    expect(counts(db)).toEqual(before);
  }
});

test("security headers: Tuneboard cannot be framed, and types are not sniffed", async ({ page }) => {
  const res = await page.goto(`http://127.0.0.1:${E2E_PORT}/runs`);
  const headers = res!.headers();
  expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  expect(headers["x-content-type-options"]).toBe("nosniff");
  expect(headers["referrer-policy"]).toBe("same-origin");
});
