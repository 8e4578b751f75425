import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { enqueueJob } from "./enqueue";
import { claimJob, reapExpiredJobs } from "./claim";
import { heartbeatJob } from "./heartbeat";
import { finishJob } from "./finish";
import { cancelJob } from "./cancel";
import { recordProgress } from "./progress";
import { listLiveWorkers, upsertWorker } from "./workers";
import { jobStatusSchema } from "./types";
import { readStageMetrics } from "@/lib/jobs/snapshot";
import { tempDb, type TempDb } from "@/lib/test-support/test-db";
import { postgresAvailable, stopTestPostgres } from "@/lib/test-support/pg-test";
import type { DatabaseProvider } from "../../prisma/database-url";

// The same tests on SQLite and on PostgreSQL (a throwaway server: lib/test-support/pg-test.ts).
const providers: DatabaseProvider[] = postgresAvailable ? ["sqlite", "postgresql"] : ["sqlite"];
afterAll(() => stopTestPostgres());

describe.each(providers)("%s", (provider) => {
let t: TempDb;
beforeEach(async () => {
  t = await tempDb("tuneboard-queue-", provider);
});
afterEach(async () => {
  await t.cleanup();
});

const job = (name = "run") => ({
  name,
  config: JSON.stringify({ learning_rate: 1e-4, dataset: ["identity"] }),
  modelPath: "/models/tiny",
  datasets: "identity",
});

describe("job queue", () => {
  it("enqueue → claim → heartbeat → finish", async () => {
    const a = await enqueueJob(job("a"), t.client);
    const b = await enqueueJob(job("b"), t.client);
    expect(a.status).toBe("queued");
    expect(a.attempts).toBe(0);
    expect(b.id).toBeGreaterThan(a.id);

    const now = Date.now();
    const claimed = await claimJob("w1", { leaseMs: 10_000, now }, t.client);
    expect(claimed?.id).toBe(a.id); // oldest first
    expect(claimed?.status).toBe("running");
    expect(claimed?.workerId).toBe("w1");
    expect(claimed?.attempts).toBe(1);
    expect(claimed?.leaseExpiresAt).toBe(now + 10_000);
    expect(claimed?.startedAt).toBeInstanceOf(Date);
    expect(claimed?.startedAt?.getTime()).toBe(now);
    expect(JSON.parse(claimed!.config)).toEqual({ learning_rate: 1e-4, dataset: ["identity"] });

    const hb = await heartbeatJob(a.id, "w1", { leaseMs: 20_000, now: now + 1000 }, t.client);
    expect(hb).toEqual({ ok: true, cancelRequested: false });
    expect((await t.client.job.findUniqueOrThrow({ where: { id: a.id } })).leaseExpiresAt).toBe(now + 21_000);
    expect(await heartbeatJob(a.id, "someone-else", {}, t.client)).toEqual({ ok: false, cancelRequested: false });

    expect(await finishJob(a.id, "w1", { status: "succeeded", finalLoss: 0.42 }, t.client)).toBe(true);
    const done = await t.client.job.findUniqueOrThrow({ where: { id: a.id } });
    expect(done.status).toBe("succeeded");
    expect(done.finalLoss).toBe(0.42);
    expect(done.finishedAt).toBeInstanceOf(Date);
    expect(done.leaseExpiresAt).toBeNull();
    // finishing twice does nothing
    expect(await finishJob(a.id, "w1", { status: "failed", error: "late" }, t.client)).toBe(false);
    expect((await t.client.job.findUniqueOrThrow({ where: { id: a.id } })).status).toBe("succeeded");
    // a finished job's lease is gone
    expect((await heartbeatJob(a.id, "w1", {}, t.client)).ok).toBe(false);

    const next = await claimJob("w1", {}, t.client);
    expect(next?.id).toBe(b.id);
    expect(await finishJob(b.id, "w1", { status: "failed", error: "CUDA out of memory" }, t.client)).toBe(true);
    const failed = await t.client.job.findUniqueOrThrow({ where: { id: b.id } });
    expect(failed.status).toBe("failed");
    expect(failed.error).toBe("CUDA out of memory");
    expect(jobStatusSchema.parse(failed.status)).toBe("failed");
  });

  it("a second claim gets nothing when only one job exists", async () => {
    await enqueueJob(job(), t.client);
    expect(await claimJob("w1", {}, t.client)).not.toBeNull();
    expect(await claimJob("w2", {}, t.client)).toBeNull();
    expect(await claimJob("w1", {}, t.client)).toBeNull();
  });

  it("claim on an empty queue returns null", async () => {
    expect(await claimJob("w1", {}, t.client)).toBeNull();
  });

  it("enqueue rejects a config that is not JSON", async () => {
    await expect(enqueueJob({ ...job(), config: "{nope" }, t.client)).rejects.toThrow(/JSON/);
  });

  it("a worker whose lease expired and was reclaimed cannot finish, heartbeat or report progress", async () => {
    const { id } = await enqueueJob(job(), t.client);
    const t0 = Date.now();
    expect((await claimJob("w1", { leaseMs: 1000, now: t0 }, t.client))?.id).toBe(id);
    // still leased: nobody else gets it
    expect(await claimJob("w2", { leaseMs: 1000, now: t0 + 500 }, t.client)).toBeNull();
    // lease expired: w2 takes it over
    const re = await claimJob("w2", { leaseMs: 60_000, now: t0 + 1500 }, t.client);
    expect(re?.id).toBe(id);
    expect(re?.workerId).toBe("w2");
    expect(re?.attempts).toBe(2);

    expect(await finishJob(id, "w1", { status: "succeeded", finalLoss: 1 }, t.client)).toBe(false);
    expect(await heartbeatJob(id, "w1", {}, t.client)).toEqual({ ok: false, cancelRequested: false });
    expect(
      await recordProgress(id, "w1", { metric: { step: 1, epoch: 0.1, loss: 9, lr: 1e-4 } }, t.client),
    ).toBe(false);
    const row = await t.client.job.findUniqueOrThrow({ where: { id } });
    expect(row.status).toBe("running");
    expect(row.workerId).toBe("w2");
    expect(row.finalLoss).toBeNull();
    expect(await t.client.metric.count()).toBe(0);

    expect(await finishJob(id, "w2", { status: "succeeded", finalLoss: 0.5 }, t.client)).toBe(true);
  });

  it("an expired job that used up its attempts is failed, not claimed again", async () => {
    const { id } = await enqueueJob(job(), t.client);
    let now = Date.now();
    for (let i = 1; i <= 3; i++) {
      expect((await claimJob(`w${i}`, { leaseMs: 100, now, maxAttempts: 3 }, t.client))?.attempts).toBe(i);
      now += 1000;
    }
    expect(await claimJob("w4", { leaseMs: 100, now, maxAttempts: 3 }, t.client)).toBeNull();
    const row = await t.client.job.findUniqueOrThrow({ where: { id } });
    expect(row.status).toBe("failed");
    expect(row.error).toMatch(/lease/);
    expect(row.finishedAt).toBeInstanceOf(Date);
  });

  it("cancel: a queued job at once, a running job through its worker", async () => {
    const q = await enqueueJob(job("queued"), t.client);
    const r = await enqueueJob(job("running"), t.client);
    // claim takes the oldest, so cancel q first, then claim r
    expect(await cancelJob(q.id, {}, t.client)).toEqual({ ok: true, state: "cancelled" });
    const qRow = await t.client.job.findUniqueOrThrow({ where: { id: q.id } });
    expect(qRow.status).toBe("cancelled");
    expect(qRow.finishedAt).toBeInstanceOf(Date);
    expect(qRow.cancelRequested).toBe(false);

    const claimed = await claimJob("w1", {}, t.client);
    expect(claimed?.id).toBe(r.id); // the cancelled job is never claimed
    expect(await cancelJob(r.id, {}, t.client)).toEqual({ ok: true, state: "cancel_requested" });
    const rRow = await t.client.job.findUniqueOrThrow({ where: { id: r.id } });
    expect(rRow.status).toBe("running");
    expect(rRow.cancelRequested).toBe(true);

    expect(await heartbeatJob(r.id, "w1", {}, t.client)).toEqual({ ok: true, cancelRequested: true });
    expect(await finishJob(r.id, "w1", { status: "cancelled" }, t.client)).toBe(true);
    expect((await t.client.job.findUniqueOrThrow({ where: { id: r.id } })).status).toBe("cancelled");

    expect(await cancelJob(r.id, {}, t.client)).toEqual({ ok: false, state: "already_finished" });
    expect(await cancelJob(9999, {}, t.client)).toEqual({ ok: false, state: "not_found" });
    expect(await claimJob("w1", {}, t.client)).toBeNull();
  });

  it("a running job with a cancel request whose worker died becomes cancelled, not re-run", async () => {
    const { id } = await enqueueJob(job(), t.client);
    const now = Date.now();
    await claimJob("w1", { leaseMs: 100, now }, t.client);
    await cancelJob(id, { now }, t.client);
    expect(await reapExpiredJobs({ now: now + 50 }, t.client)).toBe(0); // lease still valid
    expect(await claimJob("w2", { now: now + 1000 }, t.client)).toBeNull();
    expect((await t.client.job.findUniqueOrThrow({ where: { id } })).status).toBe("cancelled");
  });

  it("progress: metric upsert is idempotent by (jobId, step) and updates job.step/totalSteps", async () => {
    const { id } = await enqueueJob(job(), t.client);
    await claimJob("w1", {}, t.client);
    const m = { step: 10, epoch: 0.5, loss: 2.5, lr: 1e-4, gradNorm: 1.2, tokens: 4096, tokensPerSec: 900.5, elapsedS: 4.5 };
    expect(await recordProgress(id, "w1", { metric: m, totalSteps: 100 }, t.client)).toBe(true);
    expect(await recordProgress(id, "w1", { metric: m, totalSteps: 100 }, t.client)).toBe(true);
    expect(await recordProgress(id, "w1", { metric: { ...m, loss: 2.4 } }, t.client)).toBe(true);
    const rows = await t.client.metric.findMany({ where: { jobId: id } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ step: 10, loss: 2.4, epoch: 0.5, gradNorm: 1.2, tokens: 4096, tokensPerSec: 900.5 });
    expect(rows[0].createdAt).toBeInstanceOf(Date);

    expect(await recordProgress(id, "w1", { metric: { ...m, step: 20, loss: 2.0, gradNorm: null } }, t.client)).toBe(true);
    // a replayed older step does not move job.step backwards
    expect(await recordProgress(id, "w1", { metric: { ...m, step: 10, loss: 2.3 }, logTail: "step 10\n" }, t.client)).toBe(true);
    const after = await t.client.job.findUniqueOrThrow({ where: { id }, include: { metrics: { orderBy: { step: "asc" } } } });
    expect(after.step).toBe(20);
    expect(after.totalSteps).toBe(100);
    expect(after.logTail).toBe("step 10\n");
    expect(after.metrics.map((r) => [r.step, r.loss, r.gradNorm])).toEqual([
      [10, 2.3, 1.2],
      [20, 2.0, null],
    ]);

    // deleting the job removes its metrics (onDelete: Cascade)
    await finishJob(id, "w1", { status: "succeeded" }, t.client);
    await t.client.job.delete({ where: { id } });
    expect(await t.client.metric.count()).toBe(0);
  });

  it("progress: a preference step's stage metrics are stored with it and read back by the Run page's loader", async () => {
    const { id } = await enqueueJob(job(), t.client);
    await claimJob("w1", {}, t.client);
    const stageMetrics = { "rewards/accuracies": 0.75, "rewards/margins": 0.43, "logps/chosen": -40.2 };
    const m = { step: 1, epoch: 0.1, loss: 0.62, lr: 1e-4, stageMetrics };
    expect(await recordProgress(id, "w1", { metric: m }, t.client)).toBe(true);
    expect(await recordProgress(id, "w1", { metric: { ...m, step: 2, stageMetrics: null } }, t.client)).toBe(true);
    const rows = await t.client.metric.findMany({ where: { jobId: id }, orderBy: { step: "asc" } });
    expect(rows.map((r) => (r.stageMetrics === null ? null : JSON.parse(r.stageMetrics)))).toEqual([stageMetrics, null]);
    expect(rows.map((r) => readStageMetrics(r.stageMetrics))).toEqual([stageMetrics, null]);
    expect(readStageMetrics('{"not a metric": 1}')).toBeNull();
  });

  it("progress after the job finished records nothing", async () => {
    const { id } = await enqueueJob(job(), t.client);
    await claimJob("w1", {}, t.client);
    await finishJob(id, "w1", { status: "succeeded" }, t.client);
    expect(await recordProgress(id, "w1", { metric: { step: 1, epoch: 0, loss: 1, lr: 1 } }, t.client)).toBe(false);
    expect(await t.client.metric.count()).toBe(0);
  });

  it("workers: heartbeat upsert", async () => {
    const now = Date.now();
    const w = await upsertWorker({ id: "w-1", hostname: "box", pid: 42, gpus: [{ index: 0, name: "H100", memoryTotalMiB: 81559 }] }, { now }, t.client);
    expect(w.lastSeenAt).toBe(now);
    expect(JSON.parse(w.gpus)).toEqual([{ index: 0, name: "H100", memoryTotalMiB: 81559, memoryUsedMiB: null, utilizationPct: null }]);
    const w2 = await upsertWorker({ id: "w-1", hostname: "box", pid: 43, currentJobId: 7 }, { now: now + 5000 }, t.client);
    expect(w2).toMatchObject({ pid: 43, currentJobId: 7, lastSeenAt: now + 5000, gpus: "[]" });
    expect(w2.startedAt.getTime()).toBe(w.startedAt.getTime());
    expect(await t.client.worker.count()).toBe(1);
    expect((await listLiveWorkers({ now: now + 6000 }, t.client)).map((x) => x.id)).toEqual(["w-1"]);
    expect(await listLiveWorkers({ now: now + 120_000 }, t.client)).toEqual([]);
  });
});
});
