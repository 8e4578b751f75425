// A worker killed with SIGKILL mid-run: its trainer goes down with it (no orphan), the lease
// expires, another worker claims the job and resumes it from the last checkpoint, and the run's
// metric history is one continuous series. Real processes, real trainer, real SQLite.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { afterEach, expect, it } from "vitest";
import { createHarness, type Harness } from "./test-support/harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function trainerRunning(configPath: string): boolean {
  try {
    return execFileSync("pgrep", ["-f", configPath], { encoding: "utf8" }).trim() !== "";
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
}

it("SIGKILL a worker mid-run: the job is resumed from its checkpoint by another worker and succeeds", async () => {
  h = await createHarness();
  const harness = h;
  // 138 steps (92 samples / batch 2, 3 epochs), a checkpoint every 5, a point every step:
  // long enough that the kill lands mid-run on any machine.
  const id = await h.enqueue({ max_samples: 1000, num_train_epochs: 3, save_steps: 5, logging_steps: 1 });
  const lease = { TUNEBOARD_LEASE_MS: "3000" };
  h.startWorker("doomed", lease);
  await h.waitFor(async () => (await harness.db.metric.count({ where: { jobId: id } })) >= 12, 120_000, "12 logged steps");
  const configPath = path.join(h.runsDir, `run-${id}`, "tuneboard_config.json");
  expect(trainerRunning(configPath)).toBe(true);

  h.workers[0].child.kill("SIGKILL");
  // The orphaned trainer notices its worker is gone and exits.
  await h.waitFor(async () => !trainerRunning(configPath), 10_000, "the orphaned trainer to exit");

  h.startWorker("rescuer", lease);
  const job = await h.waitFor(
    async () => {
      const j = await harness.db.job.findUnique({ where: { id } });
      return j && ["succeeded", "failed", "cancelled"].includes(j.status) ? j : null;
    },
    180_000,
    "the job to finish on the second worker",
  );
  expect(job.status, job.error ?? "").toBe("succeeded");
  expect(job.workerId).toBe("rescuer");
  expect(job.attempts).toBe(2);
  expect(h.workers[1].output()).toMatch(new RegExp(`job ${id}: resuming from .*checkpoint-\\d+`));
  expect(job.logTail).toMatch(/resumed from/);

  // One continuous history: every step 1..total exactly once.
  const steps = (await h.db.metric.findMany({ where: { jobId: id }, orderBy: { step: "asc" } })).map((m) => m.step);
  expect(job.totalSteps).toBeGreaterThan(12);
  expect(steps).toEqual(Array.from({ length: job.totalSteps! }, (_, i) => i + 1));
}, 360_000);
