// Continue training, on the server: which runs can be continued, the continued run's config, the
// links both ways and the joined curve. Real files and a real SQLite database in a temp dir.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverTestEnv } from "@/lib/test-support/server-test-env";
import { trainForm } from "@/lib/test-support/train-form";

const env = serverTestEnv("tuneboard-continued-run-");
const runsDir = env.runsDir;

let mod: typeof import("./continued-run");
let createRun: typeof import("./create-run").createRun;
let db: typeof import("@/lib/db").db;

const config = trainForm;

/** A finished run as the worker leaves it: status, metrics, and its folder's final trainer state. */
async function finishedRun(extra: Record<string, unknown> = {}, steps = [1, 2, 3], state = true): Promise<number> {
  const r = await createRun(config(extra));
  if (!r.ok) throw new Error(JSON.stringify(r));
  await db().job.update({ where: { id: r.id }, data: { status: "succeeded", outputDir: path.join(runsDir, `run-${r.id}`) } });
  for (const step of steps) await db().metric.create({ data: { jobId: r.id, step, epoch: step / 3, loss: 3 - step / 10, lr: 1e-4 } });
  await db().evalMetric.create({ data: { jobId: r.id, step: steps.at(-1)!, epoch: 1, evalLoss: 2.5 } });
  fs.mkdirSync(path.join(runsDir, `run-${r.id}`), { recursive: true });
  if (state) fs.writeFileSync(path.join(runsDir, `run-${r.id}`, "trainer_state.pt"), "");
  return r.id;
}

beforeAll(async () => {
  await env.prepare();
  env.makeModel("tiny");
  mod = await import("./continued-run");
  ({ createRun } = await import("./create-run"));
  ({ db } = await import("@/lib/db"));
});
afterAll(() => env.cleanup());

describe("continue training", () => {
  it("queues a run linked to the parent, with its settings and the epochs asked for", async () => {
    const parent = await finishedRun({ max_steps: "3", name: "first" });
    const r = await mod.continueRun(parent, "3", "en");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const child = await db().job.findUniqueOrThrow({ where: { id: r.id } });
    const stored = JSON.parse(child.config);
    expect(stored).toMatchObject({ continue_from_run: parent, num_train_epochs: 3, lora_rank: 8, learning_rate: 2e-4 });
    expect(stored.max_steps).toBeUndefined(); // the epochs asked for decide the length
    expect(stored.resume_from_checkpoint).toBeUndefined();
    expect(child.name).toBe("first (continued)");
    expect(child.status).toBe("queued");
    expect(await mod.findContinuations(parent)).toEqual([{ id: r.id, number: expect.any(Number), name: "first (continued)", status: "queued" }]);
  });

  it("refuses epochs that are not a number at the epochs field, and queues nothing", async () => {
    const parent = await finishedRun();
    const before = await db().job.count();
    expect(await mod.continueRun(parent, "0", "en")).toEqual({ ok: false, epochsError: "epochs must be > 0", formError: undefined });
    expect(await mod.continueRun(parent, "many", "zh")).toMatchObject({ ok: false, epochsError: expect.stringMatching(/[\u4e00-\u9fff]/) });
    expect(await db().job.count()).toBe(before);
  });

  it("refuses a run that did not succeed, is not a training run, or saved no final state", async () => {
    const noState = await finishedRun({}, [1], false);
    expect(await mod.continueRun(noState, "1", "en")).toEqual({ ok: false, formError: `run ${noState} has no saved final state (trainer_state.pt in run-${noState}): it cannot be continued` });
    const running = await finishedRun();
    await db().job.update({ where: { id: running }, data: { status: "failed" } });
    expect(await mod.continueRun(running, "1", "en")).toEqual({ ok: false, formError: `run ${running} has not succeeded (failed): only a finished run can be continued` });
    expect(await mod.continueRun(9999, "1", "zh")).toEqual({ ok: false, formError: "运行 9999 不是训练运行" });
    const viaForm = await createRun(config({ continue_from_run: String(running) }));
    expect(viaForm).toMatchObject({ ok: false, fieldErrors: { continue_from_run: expect.stringMatching(/has not succeeded/) } });
  });

  it("refuses early stopping without a validation split at its field", async () => {
    const r = await createRun(config({ early_stopping_patience: "2" }));
    expect(r).toMatchObject({ ok: false, fieldErrors: { early_stopping_patience: "early stopping needs a validation split: set validation size above 0" } });
    expect((await createRun(config({ early_stopping_patience: "2", val_size: "0.2" }))).ok).toBe(true);
  });

  it("joins the curves of a chain of continued runs, oldest first, and links both ways", async () => {
    const first = await finishedRun({ name: "a" }, [1, 2, 3]);
    const second = await createRun(config({ continue_from_run: String(first), name: "b" }));
    if (!second.ok) throw new Error(JSON.stringify(second));
    await db().job.update({ where: { id: second.id }, data: { status: "succeeded" } });
    for (const step of [4, 5, 6]) await db().metric.create({ data: { jobId: second.id, step, epoch: step / 3, loss: 1, lr: 1e-4 } });
    fs.mkdirSync(path.join(runsDir, `run-${second.id}`), { recursive: true });
    fs.writeFileSync(path.join(runsDir, `run-${second.id}`, "trainer_state.pt"), "");
    const third = await mod.continueRun(second.id, "1", "en");
    if (!third.ok) throw new Error(JSON.stringify(third));
    const thirdJob = await db().job.findUniqueOrThrow({ where: { id: third.id } });
    const earlier = await mod.loadEarlierRuns(thirdJob.config);
    expect(earlier).toMatchObject({ id: second.id, name: "b" });
    expect(earlier!.curve.points.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(earlier!.curve.evalPoints.map((p) => p.step)).toEqual([3]);
    expect((await mod.findContinuations(first)).map((c) => c.id)).toEqual([second.id]);
    expect(await mod.loadEarlierRuns((await db().job.findUniqueOrThrow({ where: { id: first } })).config)).toBeNull();
  });

  it("a preference run started from an SFT run names it but draws its own curve (another loss, its own steps)", async () => {
    const sft = await finishedRun({ name: "sft" }, [1, 2, 3]);
    // The chain's stored config, as the Train form queues it (the dataset kind check is createRun's).
    const dpoConfig = JSON.stringify({ ...config(), stage: "dpo", continue_from_run: sft });
    const earlier = await mod.loadEarlierRuns(dpoConfig);
    expect(earlier).toMatchObject({ id: sft, name: "sft" });
    expect(earlier!.curve.points).toEqual([]);
  });
});
