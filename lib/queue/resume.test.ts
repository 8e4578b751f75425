// resumeJob on a real SQLite database (the committed migrations): only cancelled and failed
// jobs go back to the queue, once, and the next claim resumes them (attempts > 1).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDb, type TempDb } from "@/lib/test-support/test-db";
import { enqueueJob } from "@/lib/queue/enqueue";
import { claimJob } from "@/lib/queue/claim";
import { resumeJob } from "./resume";

let t: TempDb;
beforeAll(async () => {
  t = await tempDb("tuneboard-resume-");
});
afterAll(async () => t.cleanup());

const newJob = () => enqueueJob({ name: "r", config: "{}", modelPath: "/m", datasets: "d" }, t.client);

describe("resumeJob", () => {
  it("re-queues a cancelled job; the next claim is attempt 2 (resume from checkpoint)", async () => {
    const job = await newJob();
    await claimJob("w1", {}, t.client);
    await t.client.job.update({ where: { id: job.id }, data: { status: "cancelled", cancelRequested: true, finishedAt: new Date(), step: 7 } });
    const res = await resumeJob(job.id, t.client);
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect(res.job).toMatchObject({ status: "queued", cancelRequested: false, finishedAt: null, workerId: null, attempts: 1, step: 7 });
    const claimed = await claimJob("w2", {}, t.client);
    expect(claimed?.id).toBe(job.id);
    expect(claimed?.attempts).toBe(2);
  });

  it("re-queues a failed job and clears its error", async () => {
    const job = await newJob();
    await t.client.job.update({ where: { id: job.id }, data: { status: "failed", error: "boom", attempts: 3 } });
    const res = await resumeJob(job.id, t.client);
    expect(res.ok && res.job.error).toBe(null);
    expect(res.ok && res.job.attempts).toBe(1);
  });

  it("refuses queued, running and succeeded jobs, and a second resume", async () => {
    for (const status of ["queued", "running", "succeeded"]) {
      const job = await newJob();
      await t.client.job.update({ where: { id: job.id }, data: { status } });
      expect(await resumeJob(job.id, t.client)).toEqual({ ok: false, state: "not_resumable", status });
    }
    const job = await newJob();
    await t.client.job.update({ where: { id: job.id }, data: { status: "cancelled" } });
    const [a, b] = await Promise.all([resumeJob(job.id, t.client), resumeJob(job.id, t.client)]);
    expect([a.ok, b.ok].sort()).toEqual([false, true]);
  });

  it("says when the job does not exist", async () => {
    expect(await resumeJob(999_999, t.client)).toEqual({ ok: false, state: "not_found" });
  });
});
