// Idempotent set-up: each step checks a stamp and does nothing when its inputs are unchanged,
// so a second `npm start` is fast and changes nothing that exists.
//   node scripts/setup.mjs [--test]   (--test also installs the Python test dependencies)
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { BIN, PYTHON, ROOT, VENV, hashPaths, log, readStamp, run, writeStamp } from "./lib.mjs";
import { pythonDependencies } from "./python-deps.mjs";
import { llamaCppWheelDir } from "./llama-cpp-wheel.mjs";

let withTest = process.argv.includes("--test");
process.env.NEXT_TELEMETRY_DISABLED = "1";

function nodeModules() {
  const stamp = path.join(ROOT, "node_modules", ".tuneboard-lock.sha256");
  const want = hashPaths(["package.json", "package-lock.json"]);
  if (readStamp(stamp) === want) return;
  log("installing node modules (npm ci)…");
  run("npm", [fs.existsSync(path.join(ROOT, "package-lock.json")) ? "ci" : "install", "--no-audit", "--no-fund"]);
  writeStamp(stamp, want);
}

function pythonVenv() {
  // worker/trainer/pyproject.toml is the one list (scripts/python-deps.mjs reads it).
  const reqs = pythonDependencies({ test: withTest });
  // Two stamps: the runtime set, and the runtime + test set (which also serves `npm start`).
  const stamp = (set) => path.join(VENV, `.tuneboard-${set}.sha256`);
  const hash = (list) => createHash("sha256").update(list.join("\n")).digest("hex");
  const want = hash(reqs);
  if (readStamp(stamp(withTest ? "test" : "runtime")) === want && fs.existsSync(PYTHON)) return;
  if (!fs.existsSync(PYTHON)) {
    log("creating the Python virtual environment (.venv)…");
    run("python3", ["-m", "venv", VENV]);
  }
  log(`installing Python packages (worker/trainer/pyproject.toml${withTest ? ", with the test extra" : ""})…`);
  // The list pins torch exactly (torch==2.13.0), to the CPU build: a looser pin would let another
  // package pull a CUDA build of several GB.
  // The test set's llama-cpp-python comes from the wheel cache (built there the first time).
  const wheels = withTest ? llamaCppWheelDir() : null;
  const findLinks = wheels ? ["--find-links", wheels] : [];
  run(PYTHON, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", ...findLinks, ...reqs]);
  writeStamp(stamp(withTest ? "test" : "runtime"), want);
  if (withTest) writeStamp(stamp("runtime"), hash(pythonDependencies()));
}

function prismaClient() {
  const stamp = path.join(ROOT, "lib", "generated", ".schema.sha256");
  const want = hashPaths(["prisma/schema.prisma", "prisma/schema.postgresql.prisma", "package-lock.json"]);
  const generated = ["prisma", "prisma-pg"].every((d) => fs.existsSync(path.join(ROOT, "lib", "generated", d)));
  if (readStamp(stamp) === want && generated) return;
  log("generating the Prisma clients (SQLite and PostgreSQL)…");
  // generate never starts the schema engine, but Prisma insists the binary path exists;
  // it cannot be downloaded here, so point it at any existing file.
  const env = { PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath };
  run(BIN("prisma"), ["generate", "--schema", "prisma/schema.prisma"], { env });
  // The PostgreSQL client (lib/generated/prisma-pg) from the derived schema (prisma/README.md).
  run(BIN("prisma"), ["generate", "--schema", "prisma/schema.postgresql.prisma"], { env });
  writeStamp(stamp, want);
}

// The user's data folder (git-ignored) gets the bundled templates it lacks; nothing is overwritten.
function seedData() {
  run(BIN("tsx"), ["scripts/seed-data.ts"]);
}

function migrate() {
  run(BIN("tsx"), ["prisma/migrate.ts", "deploy"]);
}

function demoModel() {
  const out = path.join(ROOT, "data", "models", "tuneboard-demo");
  run(PYTHON, [
    "-m",
    "tuneboard_trainer",
    "make-demo-model",
    "--out",
    out,
    "--tokenizer-dir",
    path.join(ROOT, "node_modules", "@lenml", "tokenizer-llama3_1", "models"),
  ], { env: { PYTHONPATH: path.join(ROOT, "worker", "trainer") } });
}

/** `next build` when the app's sources changed since the last one (the server needs it). */
export function ensureBuild() {
  const stamp = path.join(ROOT, ".next", ".tuneboard-build.sha256");
  const want = hashPaths(
    ["app", "components", "lib", "next.config.js", "postcss.config.mjs", "tsconfig.json", "package-lock.json"],
    (p) => p.includes(`${path.sep}generated${path.sep}`) || p.endsWith(".test.ts"),
  );
  if (readStamp(stamp) === want && fs.existsSync(path.join(ROOT, ".next", "BUILD_ID"))) return;
  log("building the web app (next build)…");
  run(BIN("next"), ["build"]);
  writeStamp(stamp, want);
}

/**
 * @param {{ withTest?: boolean, userData?: boolean, build?: boolean }} [opts] withTest also installs the Python test
 *   dependencies; userData: false leaves the user's data folder and database alone (`npm test`:
 *   every test brings its own, and even a migration that applies nothing rewrites SQLite's files);
 *   build: false leaves `next build` to the caller (scripts/test.mjs builds only before the suites
 *   that start the server).
 */
export function setup(opts = {}) {
  if (opts.withTest) withTest = true;
  nodeModules();
  pythonVenv();
  prismaClient();
  if (opts.userData !== false) {
    seedData();
    migrate();
  }
  // The demo model is the one shared, read-only piece the tests use: its weights are written only when missing;
  // its preset (tuneboard.json) is brought up to date, so a clone made by an older release trains with the current one.
  demoModel();
  if (opts.build !== false) ensureBuild();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    setup();
    log("set-up complete");
  } catch (err) {
    console.error(`\n[tuneboard] set-up failed: ${err.message}`);
    process.exit(1);
  }
}
