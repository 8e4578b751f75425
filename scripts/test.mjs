// `npm test`: everything. Set-up (incl. Python test dependencies and Debian's chromium for the
// browser tests), then TypeScript unit/integration tests, the trainer's pytest suite, and the
// Playwright end-to-end tests against the real server and worker.
import fs from "node:fs";
import path from "node:path";
import { setup } from "./setup.mjs";
import { BIN, PYTHON, ROOT, log, run, runStatus } from "./lib.mjs";
import { findPgBin, installPostgres } from "./pg-test-server.mjs";

const CHROMIUM = process.env.TUNEBOARD_CHROMIUM ?? "/usr/bin/chromium";

function ensureChromium() {
  if (fs.existsSync(CHROMIUM)) return;
  log("installing Debian's chromium for the browser tests…");
  if (process.getuid?.() !== 0) throw new Error(`${CHROMIUM} is missing: install it with 'sudo apt-get install -y chromium'`);
  run("apt-get", ["update", "-qq"]);
  run("apt-get", ["install", "-y", "-qq", "chromium"], { env: { DEBIAN_FRONTEND: "noninteractive" } });
}

// PostgreSQL (issue 8): the queue tests also run on a throwaway PostgreSQL cluster
// (lib/test-support/pg-test.ts). As root it is installed when missing; otherwise those tests are skipped
// unless TUNEBOARD_REQUIRE_PG=1 (.ci/run sets it, and starts the server itself).
function ensurePostgres() {
  if (process.env.TUNEBOARD_TEST_PG_URL || findPgBin()) return;
  if (process.getuid?.() === 0) {
    log("installing Debian's postgresql for the multi-worker queue tests…");
    installPostgres();
  } else log("PostgreSQL is not installed: its queue tests are skipped (sudo apt-get install -y postgresql)");
}

try {
  setup({ withTest: true });
  ensureChromium();
  ensurePostgres();
} catch (err) {
  console.error(`\n[tuneboard] set-up failed: ${err.message}`);
  process.exit(1);
}

const suites = [
  ["typecheck", () => runStatus(BIN("tsc"), ["--noEmit", "-p", "tsconfig.json"])],
  ["vitest", () => runStatus(BIN("vitest"), ["run"])],
  ["pytest", () => runStatus(PYTHON, ["-m", "pytest", "-q", "worker/trainer/tests"], { env: { PYTHONPATH: path.join(ROOT, "worker", "trainer") } })],
  ["playwright", () => runStatus(BIN("playwright"), ["test"], { env: { NEXT_TELEMETRY_DISABLED: "1" } })],
];
const only = process.env.TUNEBOARD_TEST_ONLY?.split(",");
const failed = [];
for (const [name, fn] of suites) {
  if (only && !only.includes(name)) continue;
  log(`running ${name}…`);
  const t0 = Date.now();
  const code = fn();
  log(`${name}: ${code === 0 ? "ok" : `FAILED (exit ${code})`} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (code !== 0) failed.push(name);
}
if (failed.length) {
  console.error(`[tuneboard] failed suites: ${failed.join(", ")}`);
  process.exit(1);
}
log("all suites passed");
