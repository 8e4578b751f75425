// The real server and one real worker for the browser tests, on their own database, data
// folder, runs and exports folders (under e2e/.artifacts/), so tests never touch the user's data;
// only the demo model in data/models/ is shared, read-only.
// Expects `npm test`'s set-up to have run (venv, Prisma client, build, demo model).
import fs from "node:fs";
import path from "node:path";
import { BIN, ROOT, run, spawnChild } from "./lib.mjs";

if (!fs.existsSync(path.join(ROOT, ".next", "BUILD_ID"))) {
  console.error("[e2e] the browser tests need the production build: run `npx next build` first (`npm test` does)");
  process.exit(1);
}
const port = process.env.E2E_PORT ?? "3210";
const art = path.join(ROOT, "e2e", ".artifacts");
fs.rmSync(path.join(art, "data"), { recursive: true, force: true });
fs.rmSync(path.join(art, "runs"), { recursive: true, force: true });
fs.rmSync(path.join(art, "exports"), { recursive: true, force: true });
// Tiny checkpoints the specs write (e2e/helpers/fixtures.ts writeTinyCheckpoint): a model root of their own.
fs.rmSync(path.join(art, "models"), { recursive: true, force: true });
fs.mkdirSync(path.join(art, "models"), { recursive: true });
fs.rmSync(path.join(art, "e2e.db"), { force: true });
const env = {
  NODE_ENV: "production",
  NEXT_TELEMETRY_DISABLED: "1",
  PORT: port,
  HOST: "127.0.0.1",
  DATABASE_URL: `file:${path.join(art, "e2e.db")}`,
  TUNEBOARD_DATA_DIR: path.join(art, "data"),
  TUNEBOARD_RUNS_DIR: path.join(art, "runs"),
  TUNEBOARD_EXPORTS_DIR: path.join(art, "exports"),
  TUNEBOARD_MODEL_ROOTS: [path.join(ROOT, "data", "models"), path.join(art, "models")].join(path.delimiter),
  TUNEBOARD_WORKER_TOKEN: "e2e-worker-token-0123456789abcdef",
};
// The data folder is seeded from data/templates/ as set-up seeds a user's; the user's own is never read.
run(BIN("tsx"), ["scripts/seed-data.ts"], { env });
run(BIN("tsx"), ["prisma/migrate.ts", "deploy"], { env });
const children = [spawnChild(BIN("tsx"), ["server.ts"], { env }), spawnChild(BIN("tsx"), ["worker/main.ts"], { env })];
const stop = () => {
  for (const c of children) c.kill("SIGTERM");
  setTimeout(() => process.exit(0), 4000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
for (const c of children) c.on("exit", (code) => { if (code && code !== 0) { console.error(`child exited ${code}`); stop(); } });
