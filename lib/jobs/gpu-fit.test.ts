// Start refuses a run whose memory estimate exceeds every online worker's GPU, naming the sizes, and
// queues the same run in 4 bits. Real files, a real SQLite database and a real worker row in a temp dir.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverTestEnv } from "@/lib/test-support/server-test-env";

const env = serverTestEnv("tuneboard-gpu-fit-");

let createRun: typeof import("./create-run").createRun;
let upsertWorker: typeof import("@/lib/queue/workers").upsertWorker;
let db: typeof import("@/lib/db").db;

beforeAll(async () => {
  await env.prepare();
  // Meta-Llama-3.1-8B's sizes; an empty weights file: the parameter count comes from config.json.
  env.makeModel("llama-8b-shape", "LlamaForCausalLM", {
    vocab_size: 128256, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8,
  });
  ({ createRun } = await import("./create-run"));
  ({ upsertWorker } = await import("@/lib/queue/workers"));
  ({ db } = await import("@/lib/db"));
});
afterAll(() => env.cleanup());

const request = (change: Record<string, string>) => ({
  model_name_or_path: "llama-8b-shape",
  template: "llama3",
  finetuning_type: "lora",
  dataset: ["identity"],
  learning_rate: "2e-4",
  num_train_epochs: "1",
  max_samples: "1000",
  cutoff_len: "512",
  per_device_train_batch_size: "1",
  gradient_accumulation_steps: "8",
  lr_scheduler_type: "cosine",
  warmup_steps: "0",
  max_grad_norm: "1.0",
  logging_steps: "5",
  save_steps: "100",
  lora_rank: "8",
  lora_alpha: "16",
  lora_dropout: "0",
  lora_target: "all",
  seed: "42",
  ...change,
});

describe("createRun against the online workers' GPUs", () => {
  it("queues anything while no worker is online (the run waits for one)", async () => {
    const r = await createRun(request({ quantization_bit: "none" }));
    expect(r.ok).toBe(true);
  });

  it("refuses bf16 on an 8 GB card with the estimate and the card size; queues the 4-bit run", async () => {
    await upsertWorker({ id: "w8", hostname: "h", pid: 1, gpus: [{ index: 0, name: "RTX 3070", memoryTotalMiB: 8192 }] });
    const before = await db().job.count();
    const refused = await createRun(request({ quantization_bit: "none" }));
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.formError).toMatch(/^the estimated 1\d\.\d GiB of GPU memory exceeds every online worker's GPU \(8\.00 GiB\)/);
    expect(await db().job.count()).toBe(before);

    const zh = await createRun(request({ quantization_bit: "none" }), "zh");
    expect(!zh.ok && zh.formError).toMatch(/^估算显存 1\d\.\d GiB 超过所有在线 worker 的 GPU（8\.00 GiB）/);

    const nf4 = await createRun(request({ quantization_bit: "4" }));
    expect(nf4.ok).toBe(true);
    expect(await db().job.count()).toBe(before + 1);
  });

  it("refuses full fine-tuning on a quantized base at the quantization field", async () => {
    const r = await createRun(request({ quantization_bit: "4", finetuning_type: "full" }));
    expect(!r.ok && r.fieldErrors.quantization_bit).toBe("quantized base weights train only with LoRA: choose LoRA, or quantization bit none");
  });
});
