// `npm test`: everything. Set-up (incl. Python test dependencies and Debian's chromium for the
// browser tests), then the typecheck, the TypeScript unit tier, the trainer's pytest suite, the
// TypeScript integration tier and the Playwright end-to-end tests. The last two start the real
// server, which serves the production build: `next build` runs (when the sources changed) right
// before the first suite that needs it. TUNEBOARD_TEST_ONLY=unit,pytest picks suites by name.
import path from "node:path";
import { ensureBuild, setup } from "./setup.mjs";
import { BIN, PYTHON, ROOT, ensureChromium, log, runStatus } from "./lib.mjs";
import { findPgBin, installPostgres } from "./pg-test-server.mjs";

// PostgreSQL: the queue tests also run on a throwaway PostgreSQL cluster
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
  setup({ withTest: true, userData: false, build: false });
  ensureChromium();
  ensurePostgres();
} catch (err) {
  console.error(`\n[tuneboard] set-up failed: ${err.message}`);
  process.exit(1);
}

// [name, needs the production build, run]
const suites = [
  ["typecheck", false, () => runStatus(BIN("tsc"), ["--noEmit", "-p", "tsconfig.json"])],
  ["unit", false, () => runStatus(BIN("vitest"), ["run", "--project", "unit"])],
  ["pytest", false, () => runStatus(PYTHON, ["-m", "pytest", "-q", "worker/trainer/tests"], { env: { PYTHONPATH: path.join(ROOT, "worker", "trainer") } })],
  ["integration", true, () => runStatus(BIN("vitest"), ["run", "--project", "integration"])],
  ["playwright", true, () => runStatus(BIN("playwright"), ["test"], { env: { NEXT_TELEMETRY_DISABLED: "1" } })],
];
const only = process.env.TUNEBOARD_TEST_ONLY?.split(",");
const failed = [];
let built = false;
for (const [name, needsBuild, fn] of suites) {
  if (only && !only.includes(name)) continue;
  if (needsBuild && !built) {
    try {
      ensureBuild();
      built = true;
    } catch (err) {
      console.error(`[tuneboard] next build failed: ${err.message}`);
      failed.push("build");
      break;
    }
  }
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
