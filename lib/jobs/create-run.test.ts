// Submit-time validation of a run: every bad input is refused with a message at its field, and
// nothing is queued. Real files and a real SQLite database in a temp dir.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEMPLATES_DIR } from "@/lib/test-support/temp-data";
import { serverTestEnv } from "@/lib/test-support/server-test-env";
import { trainForm } from "@/lib/test-support/train-form";

const env = serverTestEnv("tuneboard-create-run-");
const { dir, modelsDir, dataDir } = env;
const makeModel = env.makeModel;

let createRun: typeof import("./create-run").createRun;
let db: typeof import("@/lib/db").db;

beforeAll(async () => {
  await env.prepare();
  const bad = JSON.parse(fs.readFileSync(path.join(TEMPLATES_DIR, "identity.json"), "utf8"));
  bad[5] = { instruction: "hello", output: "" };
  fs.writeFileSync(path.join(dataDir, "broken.json"), JSON.stringify(bad));
  const registry = JSON.parse(fs.readFileSync(path.join(dataDir, "dataset_info.json"), "utf8"));
  registry.broken = { file_name: "broken.json" };
  fs.writeFileSync(path.join(dataDir, "dataset_info.json"), JSON.stringify(registry));
  makeModel("tiny");
  makeModel("gpt2", "GPT2LMHeadModel");
  fs.mkdirSync(path.join(modelsDir, "not-a-model"));
  ({ createRun } = await import("./create-run"));
  ({ db } = await import("@/lib/db"));
});
afterAll(() => env.cleanup());

const good = () =>
  trainForm({ num_train_epochs: "10", cutoff_len: "2048", gradient_accumulation_steps: "8", logging_steps: "5", save_steps: "100" });

async function refused(input: Record<string, unknown>, field: string, message: RegExp) {
  const before = await db().job.count();
  const res = await createRun(input);
  expect(res.ok).toBe(false);
  if (res.ok) return;
  expect(res.fieldErrors[field]).toMatch(message);
  expect(await db().job.count()).toBe(before);
}

describe("createRun", () => {
  it("refuses a non-numeric learning rate at its field", async () => {
    await refused({ ...good(), learning_rate: "abc" }, "learning_rate", /learning rate must be a number/);
  });
  it("refuses out-of-range values", async () => {
    await refused({ ...good(), learning_rate: "-1" }, "learning_rate", /> 0/);
    await refused({ ...good(), lora_rank: "0" }, "lora_rank", /≥ 1/);
    await refused({ ...good(), cutoff_len: "0" }, "cutoff_len", /cutoff length/);
  });
  it("refuses a dataset that does not exist", async () => {
    await refused({ ...good(), dataset: ["nope"] }, "dataset", /"nope" is not registered/);
  });
  it("refuses a model path that does not exist, is not a model, or lies outside the roots", async () => {
    await refused({ ...good(), model_name_or_path: "missing" }, "model_name_or_path", /does not exist/);
    await refused({ ...good(), model_name_or_path: "not-a-model" }, "model_name_or_path", /not a model directory/);
    await refused({ ...good(), model_name_or_path: "/etc" }, "model_name_or_path", /inside the model roots/);
    await refused({ ...good(), model_name_or_path: "../data" }, "model_name_or_path", /inside the model roots/);
  });
  it("refuses an unsupported architecture, naming it", async () => {
    await refused({ ...good(), model_name_or_path: "gpt2" }, "model_name_or_path", /unsupported architecture GPT2LMHeadModel/);
  });
  it("refuses an unknown template and method at their fields", async () => {
    await refused({ ...good(), template: "vicuna" }, "template", /unknown template/);
    await refused({ ...good(), finetuning_type: "qlora" }, "finetuning_type", /lora, freeze or full/);
  });
  it("refuses a resume checkpoint outside the runs folder or without a trainer state", async () => {
    await refused({ ...good(), resume_from_checkpoint: "/etc" }, "resume_from_checkpoint", /not a checkpoint under the runs folder/);
    await refused({ ...good(), resume_from_checkpoint: "run-9/checkpoint-1" }, "resume_from_checkpoint", /not a checkpoint/);
    fs.mkdirSync(path.join(dir, "runs", "run-1", "checkpoint-5"), { recursive: true });
    await refused({ ...good(), resume_from_checkpoint: "run-1/checkpoint-5" }, "resume_from_checkpoint", /no trainer_state\.pt/);
  });
  it("refuses a dataset with a malformed record, naming the record", async () => {
    await refused({ ...good(), dataset: ["broken"] }, "dataset", /record 5/);
  });
  it("refuses a dataset that does not fit the stage, and packing for a preference stage", async () => {
    await refused({ ...good(), stage: "dpo" }, "dataset", /dataset "identity" does not fit stage dpo: choose a preference dataset/);
    await refused({ ...good(), stage: "kto" }, "dataset", /choose a kto dataset/);
    await refused({ ...good(), stage: "dpo", packing: "true" }, "packing", /turn packing off/);
  });
  it("refuses a GPU count out of range at its field", async () => {
    await refused({ ...good(), num_gpus: "65" }, "num_gpus", /GPUs must be ≤ 64/);
    await refused({ ...good(), num_gpus: "-1" }, "num_gpus", /GPUs must be ≥ 0/);
    await refused({ ...good(), num_gpus: "1.5" }, "num_gpus", /whole number/);
  });
  it("asks the queue for the GPUs of num_gpus (0: any worker when absent)", async () => {
    const two = await createRun({ ...good(), num_gpus: "2" });
    const none = await createRun(good());
    expect(two.ok && none.ok).toBe(true);
    if (!two.ok || !none.ok) return;
    const jobTwo = await db().job.findUniqueOrThrow({ where: { id: two.id } });
    expect(jobTwo.numGpus).toBe(2);
    expect(JSON.parse(jobTwo.config).num_gpus).toBe(2); // kept, so Clone and Save carry it
    expect((await db().job.findUniqueOrThrow({ where: { id: none.id } })).numGpus).toBe(0);
  });
  it("answers in Chinese when the UI is in Chinese: schema, model and dataset errors, paths kept", async () => {
    const zh = async (input: Record<string, unknown>) => {
      const res = await createRun(input, "zh");
      return res.ok ? {} : res.fieldErrors;
    };
    expect((await zh({ ...good(), learning_rate: "0" })).learning_rate).toBe("学习率必须 > 0");
    expect((await zh({ ...good(), warmup_steps: "-1" })).warmup_steps).toMatch(/^数值过小/);
    expect((await zh({ ...good(), model_name_or_path: "missing" })).model_name_or_path).toBe("模型路径不存在：missing");
    expect((await zh({ ...good(), dataset: ["nope"] })).dataset).toBe("数据集“nope”未在 dataset_info.json 中注册");
  });
  it("queues a valid run with the model's resolved path", async () => {
    const res = await createRun(good());
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    const job = await db().job.findUniqueOrThrow({ where: { id: res.id } });
    expect(job.status).toBe("queued");
    expect(job.modelPath).toBe(fs.realpathSync(path.join(modelsDir, "tiny")));
    expect(JSON.parse(job.config).learning_rate).toBe(2e-4);
  });
});
