// Proves that the test suite never reads or writes the user's data (.ci/run runs it around `npm test`):
//   node scripts/tutorial-check.mjs record <manifest>
//     does the README's tutorial as a user would on this clone: `npm start` with default settings
//     (scripts/start.mjs), the identity form filled with Greatbot/Allen and a short demo run in
//     Chromium (e2e-tutorial/, playwright.tutorial.config.ts), then stops the app, checks that
//     `git status --porcelain` is empty and writes the sha256 of every file of the user's data
//     (data folder, runs, exports, database) to <manifest> (a path outside the data folder).
//   node scripts/tutorial-check.mjs verify <manifest>
//     after the suite: the same files, byte for byte, and `git status --porcelain` still empty.
// PORT picks the app's port (default 3000, as `npm start`).
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { BIN, ROOT, ensureChromium, isInside, log } from "./lib.mjs";

const SERVER_START_TIMEOUT_MS = 30 * 60_000; // a clean clone's first start installs and builds everything

function fail(message) {
  console.error(`[tutorial-check] ${message}`);
  process.exit(1);
}

/** The user's data locations under the settings `npm start` uses (lib/env.ts's defaults). */
function userDataPaths() {
  const abs = (p) => path.resolve(ROOT, p);
  const paths = [
    abs(process.env.TUNEBOARD_DATA_DIR ?? "data"),
    abs(process.env.TUNEBOARD_RUNS_DIR ?? "data/runs"),
    abs(process.env.TUNEBOARD_EXPORTS_DIR ?? "data/exports"),
    ...(process.env.TUNEBOARD_MODEL_ROOTS ?? "data/models").split(path.delimiter).filter(Boolean).map(abs),
  ];
  const url = process.env.DATABASE_URL ?? "file:./data/tuneboard.db";
  if (url.startsWith("file:")) paths.push(abs(url.slice("file:".length)));
  // A location inside another one is covered by the walk of that one.
  return paths.filter((p, i) => !paths.some((q, j) => j !== i && q !== p && isInside(q, p))).filter((p, i, all) => all.indexOf(p) === i);
}

/** sha256 of every file (and link target) below `paths`, keyed by path relative to the repository root. */
function hashTree(paths) {
  const out = {};
  const visit = (p) => {
    let st;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    const key = path.relative(ROOT, p) || ".";
    if (st.isSymbolicLink()) out[key] = `link:${fs.readlinkSync(p)}`;
    else if (st.isDirectory()) for (const e of fs.readdirSync(p).sort()) visit(path.join(p, e));
    else if (st.isFile()) out[key] = createHash("sha256").update(fs.readFileSync(p)).digest("hex");
  };
  for (const p of paths) visit(p);
  return out;
}

function gitStatus() {
  const r = spawnSync("git", ["status", "--porcelain"], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) fail(`git status failed: ${r.stderr}`);
  return r.stdout.trim();
}

async function waitForServer(url, app) {
  const deadline = Date.now() + SERVER_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (app.exitCode !== null) fail(`npm start exited (${app.exitCode}) before the app answered`);
    try {
      const res = await fetch(url, { redirect: "manual" });
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  fail(`the app did not answer at ${url} within ${SERVER_START_TIMEOUT_MS / 60_000} minutes`);
}

function stopApp(app) {
  if (app.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    app.on("exit", resolve);
    app.kill("SIGTERM");
  });
}

async function record(manifest) {
  ensureChromium();
  const port = process.env.PORT ?? "3000";
  const url = `http://127.0.0.1:${port}`;
  log(`tutorial check: starting the app as \`npm start\` does, on ${url}`);
  const app = spawn(process.execPath, ["scripts/start.mjs"], { cwd: ROOT, stdio: "inherit", env: { ...process.env, PORT: port } });
  let code = 1;
  try {
    await waitForServer(`${url}/datasets`, app);
    log("tutorial check: identity form and a short demo run in Chromium");
    code =
      spawnSync(BIN("playwright"), ["test", "-c", "playwright.tutorial.config.ts"], {
        cwd: ROOT,
        stdio: "inherit",
        env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", TUNEBOARD_TUTORIAL_URL: url },
      }).status ?? 1;
  } finally {
    await stopApp(app);
  }
  if (code !== 0) fail("the tutorial failed in the browser");

  const status = gitStatus();
  if (status) fail(`the tutorial left changes in the tracked tree (user data must be git-ignored):\n${status}`);
  const files = hashTree(userDataPaths());
  const greatbot = Object.keys(files).find((f) => f.endsWith("identity_greatbot.json"));
  if (!greatbot) fail("the tutorial did not write identity_greatbot.json into the data folder");
  fs.writeFileSync(manifest, `${JSON.stringify({ paths: userDataPaths(), files }, null, 2)}\n`);
  log(`tutorial check: ${Object.keys(files).length} files of user data recorded in ${manifest}`);
}

function verify(manifest) {
  const recorded = JSON.parse(fs.readFileSync(manifest, "utf8"));
  const now = hashTree(recorded.paths);
  const problems = [];
  for (const [f, h] of Object.entries(recorded.files)) {
    if (!(f in now)) problems.push(`deleted: ${f}`);
    else if (now[f] !== h) problems.push(`changed: ${f}`);
  }
  for (const f of Object.keys(now)) if (!(f in recorded.files)) problems.push(`added: ${f}`);
  const status = gitStatus();
  if (status) problems.push(`git status --porcelain is not empty:\n${status}`);
  if (problems.length) fail(`the user's data changed during the tests:\n  ${problems.join("\n  ")}`);
  log(`tutorial check: all ${Object.keys(now).length} files of user data are byte-identical; git status is clean`);
}

const [command, manifest] = process.argv.slice(2);
if (!manifest || !["record", "verify"].includes(command)) fail("usage: node scripts/tutorial-check.mjs record|verify <manifest>");
if (isInside(ROOT, path.resolve(manifest))) fail(`${manifest}: keep the manifest outside the repository`);
if (command === "record") await record(path.resolve(manifest));
else verify(path.resolve(manifest));
