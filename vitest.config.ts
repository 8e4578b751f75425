// Two tiers: `unit` runs in-process only (pure modules, SQLite files in temp folders; no child
// process, no server, no PostgreSQL, no Python) and is fast: `npm run test:unit`. `integration`
// starts real worker, server, trainer and database processes: `npm run test:integration`.
// `vitest run` (and `npm test`) runs both. Playwright owns e2e/.
// lib/architecture/test-tiers.test.ts fails when a unit test starts a process or a server.
import { fileURLToPath } from "node:url";
import { configDefaults, defineConfig } from "vitest/config";

export const ALL_TESTS = ["lib/**/*.test.ts", "app/**/*.test.ts", "worker/**/*.test.ts"];

export const INTEGRATION_TESTS = [
  "**/*.integration.test.ts", // worker, server and trainer processes
  "**/*.server.test.ts", // the real server (needs `next build`)
  "lib/configs/command.test.ts", // the trainer's argument parser in Python
  "lib/contracts/parity.test.ts", // the Python loader on the same cases as zod
  "lib/contracts/task-parity.test.ts",
  "lib/contracts/event-parity.test.ts",
  "lib/models.test.ts", // the trainer's architecture list, from Python
  "lib/api/http-handler.test.ts", // an HTTP server
  "lib/api/snippets.test.ts", // runs the curl snippet in bash
  "lib/datasets/render.test.ts", // render.py through the venv's Python
  "lib/datasets/turns-trainer.test.ts", // the trainer's turn checks in Python
  "lib/jobs/create-task.test.ts", // tar
  "lib/queue/concurrency.test.ts", // claim loops in separate processes, PostgreSQL
  "lib/queue/sqlite-busy.test.ts", // writers in separate processes
  "lib/queue/queue.test.ts", // PostgreSQL
  "lib/queue/pg-extras.test.ts", // PostgreSQL
  "lib/realtime/server.test.ts", // an HTTP + socket.io server
  "lib/realtime/subscribe-db-error.test.ts", // an HTTP + socket.io server
];

const alias = { "@": fileURLToPath(new URL(".", import.meta.url)) };
const exclude = [...configDefaults.exclude, "e2e/**"];
// No test sees the user's database or data folder (lib/test-support/isolated-env.ts).
const globalSetup = ["lib/test-support/isolated-env.ts"];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: "unit",
          include: ALL_TESTS,
          exclude: [...exclude, ...INTEGRATION_TESTS],
          environment: "node",
          globalSetup,
          // In-process, but some open a SQLite database and apply the migrations: a second on an idle
          // machine, several on a loaded 2-core one. The limits catch hangs, not slowness.
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: "integration",
          include: INTEGRATION_TESTS,
          exclude,
          environment: "node",
          globalSetup,
          // Integration tests start processes and train the demo model on 2 CPU cores.
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
