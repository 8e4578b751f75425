// Real worker processes (tsx worker/main.ts) and the real Python trainer on the demo model,
// against a real SQLite database. No fakes.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cancelJob } from "@/lib/queue/cancel";
import { createHarness, type Harness } from "./test-support/harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const FINAL = ["succeeded", "failed", "cancelled"];

describe("worker processes", () => {
  it("two workers, ten queued jobs: each job runs exactly once", async () => {
    h = await createHarness();
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(await h.enqueue({ seed: i }));
    h.startWorker("w1");
    h.startWorker("w2");
    const harness = h;
    await h.waitFor(
      async () => (await harness.db.job.count({ where: { status: { in: FINAL } } })) === 10,
      300_000,
      "all ten jobs to finish",
    );
    const jobs = await h.db.job.findMany({ orderBy: { id: "asc" } });
    for (const job of jobs) {
      expect(job.status, `job ${job.id}: ${job.error}`).toBe("succeeded");
      expect(job.attempts).toBe(1);
      // Each job trained: its metrics and its adapter exist exactly once.
      expect(await h.db.metric.count({ where: { jobId: job.id } })).toBe(2);
      expect(fs.existsSync(path.join(job.outputDir!, "adapter_model.safetensors"))).toBe(true);
    }
    // Every claim is logged: across both workers each job id is claimed once.
    const claims = h.workers.flatMap((w) => [...w.output().matchAll(/claimed job (\d+)/g)].map((m) => Number(m[1])));
    expect(claims.sort((a, b) => a - b)).toEqual(ids);
    const byWorker = new Set(jobs.map((j) => j.workerId));
    expect(byWorker).toEqual(new Set(["w1", "w2"]));
  }, 360_000);

  it("abort stops the trainer within 5 s; the job is cancelled and its partial history stays", async () => {
    h = await createHarness();
    const id = await h.enqueue({ num_train_epochs: 100, max_samples: 64, gradient_accumulation_steps: 1 });
    h.startWorker("w1");
    const harness = h;
    await h.waitFor(async () => (await harness.db.metric.count({ where: { jobId: id } })) >= 2, 120_000, "two logged steps");
    const t0 = Date.now();
    expect((await cancelJob(id, {}, h.db)).ok).toBe(true);
    const job = await h.waitFor(
      async () => {
        const j = await harness.db.job.findUnique({ where: { id } });
        return j && FINAL.includes(j.status) ? j : null;
      },
      10_000,
      "the job to end",
    );
    const stoppedMs = Date.now() - t0;
    expect(job.status).toBe("cancelled");
    expect(stoppedMs).toBeLessThan(5_000);
    // The trainer process is gone.
    const configPath = path.join(h.runsDir, `run-${id}`, "tuneboard_config.json");
    let running = "";
    try {
      running = execFileSync("pgrep", ["-f", configPath], { encoding: "utf8" });
    } catch {
      running = ""; // pgrep exits 1 when nothing matches
    }
    expect(running.trim()).toBe("");
    expect(await h.db.metric.count({ where: { jobId: id } })).toBeGreaterThanOrEqual(2);
  }, 180_000);

  it("a trainer that fails shows why on the job", async () => {
    h = await createHarness();
    const id = await h.enqueue();
    // Break the dataset after it was validated at submit time: the trainer must name the record.
    const file = path.join(h.dataDir, "identity_greatbot.json");
    const records = JSON.parse(fs.readFileSync(file, "utf8"));
    records[3] = { instruction: "hi", output: 42 };
    fs.writeFileSync(file, JSON.stringify(records));
    h.startWorker("w1");
    const harness = h;
    const job = await h.waitFor(
      async () => {
        const j = await harness.db.job.findUnique({ where: { id } });
        return j && FINAL.includes(j.status) ? j : null;
      },
      120_000,
      "the job to fail",
    );
    expect(job.status).toBe("failed");
    expect(job.error).toMatch(/record 3/);
  }, 180_000);
});
