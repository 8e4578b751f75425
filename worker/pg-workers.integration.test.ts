// The multi-worker queue: 4 real worker processes on a real PostgreSQL server (Debian's
// package, a throwaway cluster on 127.0.0.1: lib/test-support/pg-test.ts), 20 queued jobs. Every job runs
// exactly once; a worker SIGKILLed mid-job loses nothing: its job is claimed again after the
// lease expires and resumed from its last checkpoint. Idle workers wake on LISTEN/NOTIFY.
// The trainer is worker/test-support/fake-steps-trainer.mjs, a FAKE (fast, no torch) that keeps
// the real event protocol and checkpoint/resume file contract: this tests the queue and the
// workers, not training (worker-crash.integration.test.ts does that with the real trainer).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { migrateDeploy } from "@/prisma/migrate";
import { createDb, type Db } from "@/lib/db";
import { enqueueJob } from "@/lib/queue/enqueue";
import { DEFAULT_RUN_CONFIG, type RunConfig } from "@/lib/schemas/run-config";
import { createTestDatabase, postgresAvailable, stopTestPostgres } from "@/lib/test-support/pg-test";
import { DEMO_MODEL, ROOT } from "./test-support/harness";

const JOBS = 20;
const WORKERS = 4;
const STEPS = 8;
const FAKE = path.join(ROOT, "worker", "test-support", "fake-steps-trainer.mjs");

let db: Db;
let dir: string;
let url: string;
let drop: () => Promise<void>;
const workers: { id: string; child: ChildProcess; out: () => string }[] = [];

beforeAll(async () => {
  if (!postgresAvailable) return;
  ({ url, drop } = await createTestDatabase("tuneboard_workers"));
  await migrateDeploy(url);
  db = createDb(url);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-pg-workers-"));
  fs.mkdirSync(path.join(dir, "data"));
}, 60_000);

afterAll(async () => {
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
  await db?.$disconnect();
  await drop?.().catch(() => {});
  stopTestPostgres();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

function startWorker(id: string) {
  const child = spawn(process.execPath, ["--import", "tsx", "worker/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: "test",
      DATABASE_URL: url,
      TUNEBOARD_ROOT: ROOT,
      TUNEBOARD_DATA_DIR: path.join(dir, "data"),
      TUNEBOARD_RUNS_DIR: path.join(dir, "runs"),
      TUNEBOARD_MODEL_ROOTS: path.dirname(DEMO_MODEL),
      TUNEBOARD_WORKER_TOKEN: "test-worker-token-0123456789",
      TUNEBOARD_SERVER_URL: "http://127.0.0.1:9",
      TUNEBOARD_PYTHON: FAKE,
      TUNEBOARD_WORKER_ID: id,
      TUNEBOARD_GPUS: "none",
      TUNEBOARD_LEASE_MS: "3000",
      // Long on purpose: a job queued while everyone idles must be picked up by NOTIFY, not by this.
      TUNEBOARD_PG_IDLE_MS: "20000",
      FAKE_STEP_MS: "150",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  workers.push({ id, child, out: () => out });
}

async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, ms: number, what: string): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}\n${workers.map((w) => `--- ${w.id}\n${w.out()}`).join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function enqueue(i: number) {
  const config: RunConfig = {
    ...DEFAULT_RUN_CONFIG,
    model_name_or_path: DEMO_MODEL,
    dataset: ["identity"],
    max_steps: STEPS,
    save_steps: 2,
    logging_steps: 1,
  };
  return enqueueJob({ name: `pg-${i}`, config: JSON.stringify(config), modelPath: DEMO_MODEL, datasets: "identity" }, db);
}

const executions = (jobId: number) =>
  fs
    .readFileSync(path.join(dir, "runs", `run-${jobId}`, "executions.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { pid: number; worker: string; resumedFrom: number });

it.skipIf(!postgresAvailable)(
  `${WORKERS} workers, ${JOBS} jobs on PostgreSQL: each runs once; a worker killed mid-job loses nothing`,
  async () => {
    for (let i = 0; i < WORKERS; i++) startWorker(`pg-worker-${i}`);
    await waitFor(async () => workers.every((w) => /LISTEN\/NOTIFY/.test(w.out())), 60_000, "workers to start");
    // Idle workers, a long idle timeout: the first job must be claimed because of NOTIFY.
    await new Promise((r) => setTimeout(r, 1500));
    await db.job.count(); // warm the test's own client: time the wake-up, not its first query
    const first = await enqueue(0);
    const t0 = Date.now();
    await waitFor(async () => (await db.job.findUnique({ where: { id: first.id } }))?.status !== "queued", 10_000, "NOTIFY wake-up");
    const wakeMs = Date.now() - t0;
    expect(wakeMs).toBeLessThan(5000); // far below TUNEBOARD_PG_IDLE_MS (20 s)
    const ids = [first.id];
    for (let i = 1; i < JOBS; i++) ids.push((await enqueue(i)).id);

    // Kill the worker of a job that is past its first checkpoint.
    const victim = await waitFor(
      async () => db.job.findFirst({ where: { status: "running", step: { gte: 3 }, id: { in: ids } } }),
      60_000,
      "a job past its first checkpoint",
    );
    const doomed = workers.find((w) => w.id === victim.workerId)!;
    doomed.child.kill("SIGKILL");
    const killedAt = victim.step;

    await waitFor(
      async () => (await db.job.count({ where: { id: { in: ids }, status: { in: ["succeeded", "failed", "cancelled"] } } })) === JOBS,
      180_000,
      "all jobs to finish",
    );
    const rows = await db.job.findMany({ where: { id: { in: ids } }, orderBy: { id: "asc" } });
    for (const row of rows) {
      expect(row.status, `job ${row.id}: ${row.error}`).toBe("succeeded");
      const runs = executions(row.id);
      const steps = (await db.metric.findMany({ where: { jobId: row.id }, orderBy: { step: "asc" } })).map((m) => m.step);
      expect(steps).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1)); // nothing lost, nothing doubled
      if (row.id === victim.id) {
        expect(row.attempts).toBe(2);
        expect(runs).toHaveLength(2);
        expect(runs[0].worker).toBe(doomed.id);
        expect(runs[1].worker).not.toBe(doomed.id);
        expect(runs[1].resumedFrom).toBeGreaterThanOrEqual(2); // from a checkpoint, not from scratch
        expect(runs[1].resumedFrom).toBeLessThanOrEqual(killedAt + 2);
        expect(row.logTail).toMatch(/resuming from checkpoint-\d+/);
      } else {
        expect(row.attempts).toBe(1);
        expect(runs).toHaveLength(1); // ran exactly once
        expect(runs[0].worker).toBe(row.workerId);
      }
    }
    const perWorker = Object.fromEntries(workers.map((w) => [w.id, rows.filter((r) => r.workerId === w.id).length]));
    console.log(`NOTIFY wake-up ${wakeMs} ms; killed ${doomed.id} at step ${killedAt} of job ${victim.id}; jobs per worker`, perWorker);
  },
  300_000,
);
