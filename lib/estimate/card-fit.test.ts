// The Start-time check: a run whose estimate exceeds every online worker's card is named with the card sizes.
import { describe, expect, it } from "vitest";
import { cardsTooSmall, memoryInputFromConfig, noCardMessage, runEstimateBytes } from "./card-fit";
import { countParams } from "./shape";
import { LLAMA31_8B } from "./test-shapes";
import { DEFAULT_RUN_CONFIG, type RunConfig } from "@/lib/schemas/run-config";

const GiB = 2 ** 30;
const llama8b = LLAMA31_8B;
const run = (c: Partial<RunConfig>): RunConfig => ({ ...DEFAULT_RUN_CONFIG, model_name_or_path: "m", dataset: ["d"], per_device_train_batch_size: 1, cutoff_len: 512, ...c });

describe("cardsTooSmall", () => {
  const card8 = { gpuMiB: [8192] };
  it("names the cards when no online worker's GPU holds the estimate", () => {
    expect(cardsTooSmall(10 * GiB, [card8, { gpuMiB: [8192, 6144] }], 0, "auto")).toEqual([6144, 8192]);
    expect(cardsTooSmall(7 * GiB, [card8], 0, "auto")).toBeNull();
  });
  it("does not apply with no worker online, a CPU run, or a worker without GPUs that may take it", () => {
    expect(cardsTooSmall(100 * GiB, [], 0, "auto")).toBeNull();
    expect(cardsTooSmall(100 * GiB, [card8], 0, "cpu")).toBeNull();
    expect(cardsTooSmall(100 * GiB, [card8, { gpuMiB: [] }], 0, "auto")).toBeNull();
    // A run asking for a GPU cannot go to the CPU worker: only the GPU cards count.
    expect(cardsTooSmall(100 * GiB, [card8, { gpuMiB: [] }], 1, "auto")).toEqual([8192]);
  });
  it("counts only workers with enough GPUs for num_gpus (each holds a replica)", () => {
    expect(cardsTooSmall(20 * GiB, [{ gpuMiB: [81920] }, { gpuMiB: [16384, 16384] }], 2, "auto")).toEqual([16384]);
  });
});

describe("a Llama-3.1-8B LoRA against an 8 GB card", () => {
  const params = countParams(llama8b);
  it("4-bit fits; bf16 is refused with the estimate and the card size", () => {
    const nf4 = runEstimateBytes(llama8b, params, run({ quantization_bit: "4" }));
    const bf16 = runEstimateBytes(llama8b, params, run({ quantization_bit: "none" }));
    expect(cardsTooSmall(nf4, [{ gpuMiB: [8192] }], 0, "auto")).toBeNull();
    const cards = cardsTooSmall(bf16, [{ gpuMiB: [8192] }], 0, "auto");
    expect(cards).toEqual([8192]);
    expect(noCardMessage(bf16, cards!)).toMatch(/^the estimated 1\d\.\d GiB of GPU memory exceeds every online worker's GPU \(8\.00 GiB\): choose quantization bit 4 or 8/);
  });
  it("reads the estimate's fields from the run config", () => {
    const input = memoryInputFromConfig(llama8b, run({ quantization_bit: "8", lora_target: ["q_proj"], freeze_trainable_layers: -3 }));
    expect(input).toMatchObject({ quantizationBit: "8", loraTarget: ["q_proj"], freezeLayers: 3, batchSize: 1, cutoffLen: 512, method: "lora" });
  });
});
