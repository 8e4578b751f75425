// Every job kind goes through the one validated enqueue: eval/export jobs (lib/jobs/create-task-job.ts)
// are queued like training runs; a kind the worker does not know is refused before the insert.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { enqueueJob } from "./enqueue";
import { claimJob } from "./claim";
import { JOB_KINDS, jobKindSchema } from "./types";
import { tempDb, type TempDb } from "@/lib/test-support/test-db";

let t: TempDb;
beforeEach(async () => {
  t = await tempDb("tuneboard-kinds-");
});
afterEach(async () => {
  await t.cleanup();
});

const input = { name: "task", config: JSON.stringify({ dataset: ["identity"] }), modelPath: "/models/tiny", datasets: "identity" };

describe("job kinds", () => {
  it("lists train, eval and export; train stays the default", async () => {
    expect(jobKindSchema.options).toEqual(["train", "eval", "export"]);
    expect((await enqueueJob(input, t.client)).kind).toBe("train");
  });

  it("queues eval and export jobs like runs (queued, no GPU asked, claimable)", async () => {
    for (const kind of JOB_KINDS.filter((k) => k !== "train")) {
      const job = await enqueueJob({ ...input, kind }, t.client);
      expect(job).toMatchObject({ kind, status: "queued", numGpus: 0, attempts: 0 });
    }
    expect((await claimJob("w1", { leaseMs: 10_000 }, t.client))?.kind).toBe("eval");
  });

  it("numbers jobs within their kind (Run #2, Evaluation #1); deleting the newest frees its number", async () => {
    const kinds = ["train", "eval", "train", "export", "eval", "train"] as const;
    const jobs = [];
    for (const kind of kinds) jobs.push(await enqueueJob({ ...input, kind }, t.client));
    expect(jobs.map((j) => [j.kind, j.seq])).toEqual([["train", 1], ["eval", 1], ["train", 2], ["export", 1], ["eval", 2], ["train", 3]]);
    expect((await t.client.job.findUniqueOrThrow({ where: { id: jobs[5]!.id } })).seq).toBe(3);
    await t.client.job.delete({ where: { id: jobs[5]!.id } });
    await t.client.job.delete({ where: { id: jobs[0]!.id } });
    expect((await enqueueJob(input, t.client)).seq).toBe(3);
  });

  it("refuses an unknown kind and inserts nothing", async () => {
    await expect(enqueueJob({ ...input, kind: "chat" as never }, t.client)).rejects.toThrow(/kind/);
    expect(await t.client.job.count()).toBe(0);
  });
});
