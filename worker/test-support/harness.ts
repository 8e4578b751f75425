// Test harness for worker integration tests: an isolated database, data folder and runs
// folder in a temp dir, and real `tsx worker/main.ts` processes on them.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { migrateDeploy } from "@/prisma/migrate";
import { createDb, type Db } from "@/lib/db";
import { fillIdentity } from "@/lib/datasets/identity";
import { DEFAULT_RUN_CONFIG, type RunConfig } from "@/lib/schemas/run-config";
import { enqueueJob } from "@/lib/queue/enqueue";
import { seedFromTemplates } from "@/lib/test-support/temp-data";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
export const DEMO_MODEL = path.join(ROOT, "data", "models", "tuneboard-demo");

export interface Harness {
  dir: string;
  dataDir: string;
  runsDir: string;
  url: string;
  db: Db;
  env: NodeJS.ProcessEnv;
  workers: { child: ChildProcess; output: () => string }[];
  startWorker: (id: string, extraEnv?: Record<string, string>) => void;
  enqueue: (overrides?: Partial<RunConfig>) => Promise<number>;
  waitFor: <T>(fn: () => Promise<T | undefined | null | false>, timeoutMs: number, what: string) => Promise<T>;
  close: () => Promise<void>;
}

export async function createHarness(): Promise<Harness> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-worker-"));
  const dataDir = path.join(dir, "data");
  const runsDir = path.join(dir, "runs");
  await seedFromTemplates(dataDir);
  await fillIdentity(dataDir, { sourceName: "identity", name: "Greatbot", author: "Allen", newName: "identity_greatbot" });
  const url = `file:${path.join(dir, "test.db")}`;
  await migrateDeploy(url, { log: () => {} });
  const db = createDb(url);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "test",
    DATABASE_URL: url,
    TUNEBOARD_ROOT: ROOT,
    TUNEBOARD_DATA_DIR: dataDir,
    TUNEBOARD_RUNS_DIR: runsDir,
    TUNEBOARD_MODEL_ROOTS: path.dirname(DEMO_MODEL),
    TUNEBOARD_WORKER_TOKEN: "test-worker-token-0123456789",
    // No server in these tests: the worker's socket retries in the background; the database is the record.
    TUNEBOARD_SERVER_URL: "http://127.0.0.1:9",
    TUNEBOARD_POLL_MS: "200",
  };
  const workers: Harness["workers"] = [];
  const h: Harness = {
    dir,
    dataDir,
    runsDir,
    url,
    db,
    env,
    workers,
    startWorker(id, extraEnv = {}) {
      // node --import tsx, not the tsx CLI: the CLI runs the script in a child process, so a
      // SIGKILL sent to it would leave the real worker running.
      const child = spawn(process.execPath, ["--import", "tsx", "worker/main.ts"], {
        cwd: ROOT,
        env: { ...env, ...extraEnv, TUNEBOARD_WORKER_ID: id },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout!.on("data", (d) => (out += d));
      child.stderr!.on("data", (d) => (out += d));
      workers.push({ child, output: () => out });
    },
    async enqueue(overrides = {}) {
      const config: RunConfig = {
        ...DEFAULT_RUN_CONFIG,
        model_name_or_path: DEMO_MODEL,
        dataset: ["identity_greatbot"],
        learning_rate: 1e-2,
        num_train_epochs: 1,
        max_samples: 4,
        per_device_train_batch_size: 2,
        gradient_accumulation_steps: 1,
        logging_steps: 1,
        cutoff_len: 256,
        ...overrides,
      };
      const job = await enqueueJob({ name: "test", config: JSON.stringify(config), modelPath: DEMO_MODEL, datasets: config.dataset.join(",") }, db);
      return job.id;
    },
    async waitFor(fn, timeoutMs, what) {
      const t0 = Date.now();
      for (;;) {
        const v = await fn();
        if (v) return v as never;
        if (Date.now() - t0 > timeoutMs) {
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${workers.map((w) => w.output()).join("\n---\n")}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
              w.child.on("exit", () => resolve());
              w.child.kill("SIGTERM");
              setTimeout(() => w.child.kill("SIGKILL"), 10_000).unref();
            }),
        ),
      );
      await db.$disconnect();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}
