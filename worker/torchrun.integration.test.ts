// A job that asks for 2 GPUs, on a worker that advertises 2: the worker launches the real trainer
// under torchrun with 2 processes. This machine has no GPU, so the "GPUs" are a fixed list
// (TUNEBOARD_GPUS) and the ranks train on the CPU with gloo: the distributed code path end to end
// (what a 2-GPU machine runs, minus CUDA). Metrics come from rank 0 only; a
// failure on rank 1 fails the job with rank 1's error.
import { afterEach, expect, it } from "vitest";
import { enqueueJob } from "@/lib/queue/enqueue";
import { DEFAULT_RUN_CONFIG, type RunConfig } from "@/lib/schemas/run-config";
import { createHarness, DEMO_MODEL, type Harness } from "./test-support/harness";

const TWO_GPUS = JSON.stringify([
  { index: 0, name: "Fake GPU (CPU test)", memoryTotalMiB: 1024 },
  { index: 1, name: "Fake GPU (CPU test)", memoryTotalMiB: 1024 },
]);

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function enqueue2(harness: Harness, name: string) {
  const config: RunConfig = {
    ...DEFAULT_RUN_CONFIG,
    model_name_or_path: DEMO_MODEL,
    dataset: ["identity_greatbot"],
    learning_rate: 1e-2,
    max_samples: 8,
    num_train_epochs: 1,
    per_device_train_batch_size: 2,
    gradient_accumulation_steps: 1,
    logging_steps: 1,
    cutoff_len: 256,
  };
  const job = await enqueueJob(
    { name, config: JSON.stringify(config), modelPath: DEMO_MODEL, datasets: "identity_greatbot", numGpus: 2 },
    harness.db,
  );
  return job.id;
}

const finished = (harness: Harness, id: number) =>
  harness.waitFor(
    async () => {
      const j = await harness.db.job.findUnique({ where: { id } });
      return j && ["succeeded", "failed", "cancelled"].includes(j.status) ? j : null;
    },
    240_000,
    `job ${id} to finish`,
  );

it("a 2-GPU job runs under torchrun (2 processes, gloo on the CPU); a 1-GPU worker never claims it", async () => {
  h = await createHarness();
  const id = await enqueue2(h, "ddp");
  h.startWorker("one-gpu", { TUNEBOARD_GPUS: JSON.stringify([{ index: 0, name: "Fake GPU", memoryTotalMiB: 1024 }]) });
  await new Promise((r) => setTimeout(r, 3000));
  expect((await h.db.job.findUnique({ where: { id } }))?.status).toBe("queued"); // does not fit
  h.startWorker("two-gpus", { TUNEBOARD_GPUS: TWO_GPUS });
  const job = await finished(h, id);
  expect(job.status, `${job.error}\n${job.logTail}`).toBe("succeeded");
  expect(job.workerId).toBe("two-gpus");
  // 8 samples, 2 per rank-batch, 2 ranks: 2 steps, each logged once (rank 0 only).
  const steps = (await h.db.metric.findMany({ where: { jobId: id }, orderBy: { step: "asc" } })).map((m) => m.step);
  expect(job.totalSteps).toBe(2);
  expect(steps).toEqual([1, 2]);
  expect(job.logTail).toMatch(/\[rank 1\] joined \(gloo, world 2\)/);
  const workers = await h.db.worker.findMany({ orderBy: { id: "asc" } });
  expect(workers.map((w) => [w.id, JSON.parse(w.gpus).length])).toEqual([["one-gpu", 1], ["two-gpus", 2]]);
}, 300_000);

it("a failure on rank 1 fails the job with rank 1's error", async () => {
  h = await createHarness();
  const id = await enqueue2(h, "fails");
  // tests/support/python-fail-rank puts the failure injection (a sitecustomize) on the trainer's PYTHONPATH.
  h.startWorker("two-gpus", {
    TUNEBOARD_GPUS: TWO_GPUS,
    TUNEBOARD_TEST_FAIL_RANK: "1",
    TUNEBOARD_PYTHON: "worker/trainer/tests/support/python-fail-rank",
  });
  const job = await finished(h, id);
  expect(job.status).toBe("failed");
  expect(job.error).toMatch(/rank 1: injected failure on rank 1/);
}, 300_000);
