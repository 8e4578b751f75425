// PostgreSQL-specific pieces of the queue: the derived schema is in sync, GPU-fit claims, and
// LISTEN/NOTIFY wake-ups (the trigger in prisma/migrations-postgresql). GPU-fit also on SQLite.
import fs from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { migrateDev, migrateStatus, postgresSchemaText, providerPaths } from "../../prisma/migrate";
import type { DatabaseProvider } from "../../prisma/database-url";
import { enqueueJob } from "./enqueue";
import { claimJob } from "./claim";
import { createWakeup } from "./wakeup";
import { postgresAvailable, stopTestPostgres } from "@/lib/test-support/pg-test";
import { tempDb } from "@/lib/test-support/test-db";
import { listWorkersForPanel, upsertWorker } from "./workers";

afterAll(() => stopTestPostgres());

it("prisma/schema.postgresql.prisma is schema.prisma with only provider and output changed (run `npx tsx prisma/migrate.ts pg-schema`)", () => {
  const sqlite = fs.readFileSync(providerPaths("sqlite").schemaPath, "utf8");
  expect(fs.readFileSync(providerPaths("postgresql").schemaPath, "utf8")).toBe(postgresSchemaText(sqlite));
});

const job = (name: string, numGpus?: number, config = "{}") => ({ name, config, modelPath: "/m", datasets: "d", numGpus });

describe.each((postgresAvailable ? ["sqlite", "postgresql"] : ["sqlite"]) as DatabaseProvider[])("%s", (provider) => {
  it("a worker claims only jobs that fit its GPUs; the oldest that fits first", async () => {
    const t = await tempDb("tuneboard-gpus-", provider);
    try {
      const big = await enqueueJob(job("needs 2", 2), t.client);
      const fromConfig = await enqueueJob(job("num_gpus in config", undefined, JSON.stringify({ num_gpus: 1 })), t.client);
      const cpu = await enqueueJob(job("cpu"), t.client);
      expect(fromConfig.numGpus).toBe(1);
      expect((await claimJob("cpu-worker", { gpuCount: 0 }, t.client))?.id).toBe(cpu.id);
      expect(await claimJob("cpu-worker", { gpuCount: 0 }, t.client)).toBeNull();
      expect((await claimJob("one-gpu", { gpuCount: 1 }, t.client))?.id).toBe(fromConfig.id);
      expect(await claimJob("one-gpu", { gpuCount: 1 }, t.client)).toBeNull();
      expect((await claimJob("two-gpus", { gpuCount: 2 }, t.client))?.id).toBe(big.id);
    } finally {
      await t.cleanup();
    }
  });

  it("jobs enqueued at the same time still get distinct numbers within their kind", async () => {
    const t = await tempDb("tuneboard-seq-", provider);
    try {
      const kinds = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? "eval" : "train") as "eval" | "train");
      const jobs = await Promise.all(kinds.map((kind, i) => enqueueJob({ ...job(`j${i}`), kind }, t.client)));
      for (const kind of ["train", "eval"]) {
        const seqs = jobs.filter((j) => j.kind === kind).map((j) => j.seq).sort((a, b) => a! - b!);
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
      }
    } finally {
      await t.cleanup();
    }
  });
});

it("Workers page data: GPUs from the heartbeat, online/offline, current job; bad GPU JSON shows none", async () => {
  const t = await tempDb("tuneboard-panel-");
  try {
    const now = 1_800_000_000_000;
    const gpu = { index: 0, name: "NVIDIA H200", memoryTotalMiB: 143771, memoryUsedMiB: 20480, utilizationPct: 97 };
    await upsertWorker({ id: "busy", hostname: "gpu-1", pid: 1, currentJobId: 7, gpus: [gpu] }, { now: now - 2_000 }, t.client);
    await upsertWorker({ id: "gone", hostname: "gpu-2", pid: 2 }, { now: now - 120_000 }, t.client);
    await t.client.worker.create({ data: { id: "odd", hostname: "h", pid: 3, lastSeenAt: now - 1_000, gpus: "not json" } });
    await upsertWorker({ id: "ancient", hostname: "h", pid: 4 }, { now: now - 7_200_000 }, t.client);
    const rows = await listWorkersForPanel({ now }, t.client);
    expect(rows.map((w) => [w.id, w.online, w.currentJobId, w.gpus.length])).toEqual([
      ["odd", true, null, 0],
      ["busy", true, 7, 1],
      ["gone", false, null, 0],
    ]);
    expect(rows[1].gpus[0]).toEqual(gpu);
  } finally {
    await t.cleanup();
  }
});

describe.skipIf(!postgresAvailable)("postgresql migrations", () => {
  it("the committed PostgreSQL migrations match the schema (dev, with its throwaway shadow database, finds nothing to add)", async () => {
    const t = await tempDb("tuneboard-pgmig-", "postgresql");
    try {
      expect((await migrateStatus(t.url)).upToDate).toBe(true);
      expect(await migrateDev("nothing", t.url, { createOnly: true })).toBeNull();
      const shadows = await t.client.$queryRawUnsafe<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE 'prisma_migrate_shadow_db_%'`,
      );
      expect(shadows[0].n).toBe(0); // dropped again
    } finally {
      await t.cleanup();
    }
  });
});

describe.skipIf(!postgresAvailable)("postgresql LISTEN/NOTIFY", () => {
  it("an idle worker wakes when a job is queued, not after its timeout; SQLite just sleeps", async () => {
    const t = await tempDb("tuneboard-wakeup-", "postgresql");
    const w = createWakeup(t.url);
    try {
      await t.client.job.count(); // warm the client
      expect(await w.wait(5000)).toBe("notified"); // the first wait after connecting: look once
      const t0 = Date.now();
      const waiting = w.wait(20_000);
      await enqueueJob(job("wake"), t.client);
      expect(await waiting).toBe("notified");
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(w.listening).toBe(true);
      expect(await w.wait(300)).toBe("timeout"); // nothing new
      const sqlite = createWakeup("file:/tmp/x.db");
      const s0 = Date.now();
      expect(await sqlite.wait(200)).toBe("timeout");
      expect(Date.now() - s0).toBeGreaterThanOrEqual(190);
    } finally {
      await w.close();
      await t.cleanup();
    }
  });
});
