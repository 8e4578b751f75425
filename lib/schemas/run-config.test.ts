// The run config's GPUs field (num_gpus): bounds, default, and errors named at the field, as the
// Train form posts it (strings) and as JSON clients do (numbers).
import { describe, expect, it } from "vitest";
import { DEFAULT_RUN_CONFIG, globalBatchSize, QUANTIZATION_METHOD_BITS, QUANTIZATION_METHODS, QUANTIZATION_NEEDS_LORA, runConfigSchema, runRequestSchema } from "./run-config";

const base = { ...DEFAULT_RUN_CONFIG, model_name_or_path: "m", dataset: ["identity"] };

function gpusError(value: unknown): string | undefined {
  const r = runConfigSchema.safeParse({ ...base, num_gpus: value });
  if (r.success) return undefined;
  // Only this field was changed, so it is the only one at fault.
  expect(r.error.issues.map((i) => i.path.join("."))).toEqual(["num_gpus"]);
  return r.error.issues[0].message;
}

describe("num_gpus", () => {
  it("defaults to 0 (any worker) when absent or left empty", () => {
    const { num_gpus: _gone, ...without } = base;
    expect(runConfigSchema.parse(without).num_gpus).toBe(0);
    expect(runConfigSchema.parse({ ...base, num_gpus: "" }).num_gpus).toBe(0);
    expect(runConfigSchema.parse({ ...base, num_gpus: "  " }).num_gpus).toBe(0);
    expect(DEFAULT_RUN_CONFIG.num_gpus).toBe(0);
  });

  it("accepts whole numbers 0..64, typed or as numbers", () => {
    expect(runConfigSchema.parse({ ...base, num_gpus: "2" }).num_gpus).toBe(2);
    expect(runConfigSchema.parse({ ...base, num_gpus: " 8 " }).num_gpus).toBe(8);
    expect(runConfigSchema.parse({ ...base, num_gpus: 0 }).num_gpus).toBe(0);
    expect(runConfigSchema.parse({ ...base, num_gpus: 64 }).num_gpus).toBe(64);
  });

  it("refuses what is not a GPU count, with a message at the field", () => {
    expect(gpusError("-1")).toBe("GPUs must be ≥ 0");
    expect(gpusError(65)).toBe("GPUs must be ≤ 64");
    expect(gpusError("1.5")).toBe("GPUs must be a whole number");
    expect(gpusError("two")).toBe("GPUs must be a number");
    expect(gpusError(true)).toBe("GPUs must be a number");
    expect(gpusError([2])).toBe("GPUs must be a number");
  });
});

describe("globalBatchSize", () => {
  it("is batch × accumulation × GPUs, one rank for 0 or 1 GPU", () => {
    expect(globalBatchSize(2, 8, 0)).toBe(16);
    expect(globalBatchSize(2, 8, 1)).toBe(16);
    expect(globalBatchSize(2, 8, 4)).toBe(64);
  });
});

describe("quantization rule (quantizationIssues, the trainer's quant/run.py applies the same)", () => {
  function issues(change: Record<string, unknown>): string[] {
    const r = runRequestSchema.safeParse({ ...base, ...change });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  }
  it("accepts LoRA on a 4- or 8-bit base with auto or a method of that width", () => {
    expect(issues({ quantization_bit: "4" })).toEqual([]);
    expect(issues({ quantization_bit: "4", quantization_method: "nf4" })).toEqual([]);
    expect(issues({ quantization_bit: "8", quantization_method: "fp8" })).toEqual([]);
    expect(issues({ quantization_bit: "8", quantization_method: "int8" })).toEqual([]);
  });
  it("refuses full and freeze fine-tuning on a quantized base at the quantization field, as LLaMA-Factory does", () => {
    expect(issues({ quantization_bit: "4", finetuning_type: "full" })).toEqual([`quantization_bit: ${QUANTIZATION_NEEDS_LORA}`]);
    expect(issues({ quantization_bit: "8", finetuning_type: "freeze" })).toEqual([`quantization_bit: ${QUANTIZATION_NEEDS_LORA}`]);
    expect(issues({ quantization_bit: "none", finetuning_type: "full" })).toEqual([]);
  });
  it("refuses a method of another width at the method field", () => {
    expect(issues({ quantization_bit: "4", quantization_method: "fp8" })).toEqual(["quantization_method: quantization method fp8 needs quantization bit 8"]);
    expect(issues({ quantization_bit: "none", quantization_method: "nf4" })).toEqual(["quantization_method: quantization method nf4 needs quantization bit 4"]);
  });
  it("every explicit method has a width", () => {
    expect(Object.keys(QUANTIZATION_METHOD_BITS).sort()).toEqual(QUANTIZATION_METHODS.filter((m) => m !== "auto").sort());
  });
});
