// Eval / export jobs through a real worker process (tsx worker/main.ts) and the real Python
// `evaluate` subcommand on the demo model, against a real SQLite database. No fakes.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cancelJob } from "@/lib/queue/cancel";
import { evalResultSchema, type EvalTask } from "@/lib/schemas/eval-config";
import { createHarness, DEMO_MODEL, type Harness } from "./test-support/harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const FINAL = ["succeeded", "failed", "cancelled"];

function evalTask(overrides: Partial<EvalTask> = {}): EvalTask {
  return {
    model_name_or_path: DEMO_MODEL,
    adapter_path: null,
    adapter_run: null,
    template: "llama3",
    dataset: ["identity_greatbot"],
    cutoff_len: 256,
    max_samples: 2,
    batch_size: 2,
    predict: true,
    max_new_tokens: 4,
    do_sample: false,
    temperature: 0.95,
    top_p: 0.7,
    seed: 42,
    ...overrides,
  };
}

async function enqueueEval(harness: Harness, config: unknown): Promise<number> {
  const job = await harness.db.job.create({
    data: { kind: "eval", name: "eval-test", config: JSON.stringify(config), modelPath: DEMO_MODEL, datasets: "identity_greatbot" },
  });
  return job.id;
}

async function finished(harness: Harness, id: number, timeoutMs = 180_000) {
  return harness.waitFor(
    async () => {
      const j = await harness.db.job.findUnique({ where: { id } });
      return j && FINAL.includes(j.status) ? j : null;
    },
    timeoutMs,
    `job ${id} to end`,
  );
}

describe("eval jobs in the worker", () => {
  it("stores the result, the files and the progress; a bad stored config fails with its field", async () => {
    h = await createHarness();
    const good = await enqueueEval(h, evalTask());
    const bad = await enqueueEval(h, { ...evalTask(), batch_size: 0 });
    h.startWorker("w1");
    const job = await finished(h, good);
    expect(job.status, job.error ?? "").toBe("succeeded");
    const result = evalResultSchema.parse(JSON.parse(job.result!));
    expect(result.metrics.num_predicted).toBe(2);
    expect(result.metrics.eval_loss).toBeGreaterThan(0);
    expect(job.outputDir).toBe(path.join(h.runsDir, `eval-${good}`));
    expect(fs.readFileSync(path.join(job.outputDir!, "generated_predictions.jsonl"), "utf8").trim().split("\n")).toHaveLength(2);
    expect(job.totalSteps).toBeGreaterThan(0);
    expect(job.step).toBe(job.totalSteps);
    expect(job.logTail).toContain("eval loss");

    const failed = await finished(h, bad);
    expect(failed.status).toBe("failed");
    expect(failed.error).toMatch(/^Invalid configuration: batch_size/);
    expect(failed.result).toBeNull();
  }, 240_000);

  it("a dataset removed after queueing fails as a dataset problem", async () => {
    h = await createHarness();
    const id = await enqueueEval(h, evalTask({ dataset: ["gone"] }));
    h.startWorker("w1");
    const job = await finished(h, id);
    expect(job.status).toBe("failed");
    expect(job.error).toMatch(/^Dataset problem: .*gone/);
  }, 180_000);

  it("abort stops the evaluation within 5 s", async () => {
    h = await createHarness();
    const id = await enqueueEval(h, evalTask({ max_samples: 91, max_new_tokens: 512, batch_size: 1 }));
    h.startWorker("w1");
    const harness = h;
    await h.waitFor(async () => ((await harness.db.job.findUnique({ where: { id } }))?.logTail ?? "").includes("predict"), 120_000, "predictions to start");
    const t0 = Date.now();
    expect((await cancelJob(id, {}, h.db)).ok).toBe(true);
    const job = await finished(h, id, 10_000);
    expect(job.status).toBe("cancelled");
    expect(Date.now() - t0).toBeLessThan(5_000);
    let running = "";
    try {
      running = execFileSync("pgrep", ["-f", path.join(h.runsDir, `eval-${id}`, "task_config.json")], { encoding: "utf8" });
    } catch {
      running = "";
    }
    expect(running.trim()).toBe("");
  }, 180_000);
});
