// deleteRun on a real SQLite database and real folders: rows go, the output folder goes only
// when it lies inside the runs root, and unfinished runs are refused.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDb, type TempDb } from "@/lib/test-support/test-db";
import { enqueueJob } from "@/lib/queue/enqueue";
import { deleteRun, outputDirInside } from "./delete-run";

let t: TempDb;
let runsDir: string;
let outside: string;
beforeAll(async () => {
  t = await tempDb("tuneboard-delete-");
  runsDir = path.join(t.dir, "runs");
  fs.mkdirSync(runsDir);
  outside = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-outside-"));
});
afterAll(async () => {
  await t.cleanup();
  fs.rmSync(outside, { recursive: true, force: true });
});

async function finishedJob(status = "succeeded", outputDir?: string) {
  const job = await enqueueJob({ name: "d", config: "{}", modelPath: "/m", datasets: "d" }, t.client);
  await t.client.job.update({ where: { id: job.id }, data: { status, outputDir } });
  await t.client.metric.create({ data: { jobId: job.id, step: 1, epoch: 0.1, loss: 2, lr: 1e-3 } });
  await t.client.evalMetric.create({ data: { jobId: job.id, step: 1, epoch: 0.1, evalLoss: 2 } });
  return job;
}

describe("deleteRun", () => {
  it("deletes the rows and the output folder inside the runs root", async () => {
    const dir = path.join(runsDir, "run-x");
    fs.mkdirSync(path.join(dir, "checkpoint-2"), { recursive: true });
    fs.writeFileSync(path.join(dir, "adapter_model.safetensors"), "x");
    const job = await finishedJob("succeeded", dir);
    const res = await deleteRun(job.id, { runsDir }, t.client);
    expect(res).toEqual({ ok: true, removedDir: fs.realpathSync(runsDir) + "/run-x", keptDir: null });
    expect(fs.existsSync(dir)).toBe(false);
    expect(await t.client.job.findUnique({ where: { id: job.id } })).toBeNull();
    expect(await t.client.metric.count({ where: { jobId: job.id } })).toBe(0);
    expect(await t.client.evalMetric.count({ where: { jobId: job.id } })).toBe(0);
  });

  it("keeps a folder outside the runs root (and a symlink pointing outside), deleting only the rows", async () => {
    fs.writeFileSync(path.join(outside, "keep.txt"), "keep");
    for (const dir of [outside, path.join(runsDir, "..", path.basename(outside)), path.join(runsDir, "link")]) {
      if (dir.endsWith("link")) fs.symlinkSync(outside, dir);
      const job = await finishedJob("failed", dir);
      const res = await deleteRun(job.id, { runsDir }, t.client);
      expect(res.ok && res.removedDir).toBe(null);
      expect(fs.existsSync(path.join(outside, "keep.txt"))).toBe(true);
      expect(await t.client.job.findUnique({ where: { id: job.id } })).toBeNull();
    }
  });

  it("never removes the runs root itself", async () => {
    const job = await finishedJob("cancelled", runsDir);
    const res = await deleteRun(job.id, { runsDir }, t.client);
    expect(res.ok && res.removedDir).toBe(null);
    expect(fs.existsSync(runsDir)).toBe(true);
    expect(outputDirInside(runsDir, path.join(runsDir, "nope"))).toBe(null);
  });

  it("refuses queued and running runs and keeps them", async () => {
    for (const status of ["queued", "running"]) {
      const job = await finishedJob(status);
      expect(await deleteRun(job.id, { runsDir }, t.client)).toEqual({ ok: false, state: "not_finished", status });
      expect(await t.client.job.findUnique({ where: { id: job.id } })).not.toBeNull();
      expect(await t.client.metric.count({ where: { jobId: job.id } })).toBe(1);
    }
    expect(await deleteRun(999_999, { runsDir }, t.client)).toEqual({ ok: false, state: "not_found" });
  });
});
