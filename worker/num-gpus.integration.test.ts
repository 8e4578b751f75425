// "GPUs" on the Train form, from the request to the trainer: createRun (the Train form's server
// side, real SQLite) queues a run asking for 1 GPU; a CPU-only worker leaves it alone; a worker
// advertising one GPU takes it and starts the real trainer, whose strict config check
// (tuneboard_trainer/config.py refuses unknown fields) accepts the file the worker wrote: the
// queue-only num_gpus is not in it. This machine has no GPU: the "GPU" is a fixed TUNEBOARD_GPUS
// entry and the trainer runs on the CPU (CUDA_VISIBLE_DEVICES=0 names a device that is not there).
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { trainForm } from "@/lib/test-support/train-form";
import { createHarness, DEMO_MODEL, type Harness } from "./test-support/harness";

let h: Harness;
let createRun: typeof import("@/lib/jobs/create-run").createRun;

beforeAll(async () => {
  h = await createHarness();
  // createRun reads env() and db() lazily: point them at the harness's database and folders.
  for (const k of ["DATABASE_URL", "TUNEBOARD_ROOT", "TUNEBOARD_DATA_DIR", "TUNEBOARD_RUNS_DIR", "TUNEBOARD_MODEL_ROOTS"]) process.env[k] = h.env[k];
  // Fresh modules: the harness's own imports may already have read (and cached) the settings.
  vi.resetModules();
  ({ createRun } = await import("@/lib/jobs/create-run"));
});
afterAll(async () => {
  await (await import("@/lib/db")).db().$disconnect();
  await h?.close();
});

it("a 1-GPU run waits for a worker with a GPU, and its trainer config has no num_gpus", async () => {
  // As the Train form posts it (strings), the GPUs field included.
  const res = await createRun(
    trainForm({
      model_name_or_path: path.basename(DEMO_MODEL),
      dataset: ["identity_greatbot"],
      learning_rate: "1e-2",
      num_train_epochs: "1",
      max_samples: "4",
      max_steps: "1",
      cutoff_len: "128",
      num_gpus: "1",
    }),
  );
  expect(res).toMatchObject({ ok: true });
  if (!res.ok) return;
  expect((await h.db.job.findUniqueOrThrow({ where: { id: res.id } })).numGpus).toBe(1);

  h.startWorker("cpu-only", { TUNEBOARD_GPUS: "none" });
  await h.waitFor(() => h.db.worker.findUnique({ where: { id: "cpu-only" } }), 30_000, "the CPU worker's heartbeat");
  await new Promise((r) => setTimeout(r, 2000)); // ten of its polls (TUNEBOARD_POLL_MS=200)
  expect((await h.db.job.findUniqueOrThrow({ where: { id: res.id } })).status).toBe("queued");

  h.startWorker("one-gpu", { TUNEBOARD_GPUS: JSON.stringify([{ index: 0, name: "Fake GPU (CPU test)", memoryTotalMiB: 1024 }]) });
  const job = await h.waitFor(
    async () => {
      const j = await h.db.job.findUnique({ where: { id: res.id } });
      return j && ["succeeded", "failed", "cancelled"].includes(j.status) ? j : null;
    },
    180_000,
    `job ${res.id} to finish`,
  );
  expect(job.status, `${job.error}\n${job.logTail}`).toBe("succeeded");
  expect(job.workerId).toBe("one-gpu");
  const written = JSON.parse(fs.readFileSync(path.join(h.runsDir, `run-${job.id}`, "tuneboard_config.json"), "utf8")) as Record<string, unknown>;
  expect(written).not.toHaveProperty("num_gpus");
  expect(written).not.toHaveProperty("name");
  expect(written.max_steps).toBe(1);
}, 240_000);
