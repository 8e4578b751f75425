import { describe, expect, it } from "vitest";
import { adviseEpochs } from "./epochs";

describe("adviseEpochs", () => {
  it("counts optimizer steps as the trainer does (partial batches and windows count)", () => {
    // 91 records, batch 2 → 46 micro-batches; accumulation 4 → 12 windows per epoch.
    expect(adviseEpochs({ records: 91, epochs: 3, batchSize: 2, gradAccum: 4 })).toEqual({
      stepsPerEpoch: 12,
      totalSteps: 36,
      effectiveBatch: 8,
      warnings: [],
    });
  });

  it("warns about too few steps, a dataset smaller than one batch, and memorising", () => {
    expect(adviseEpochs({ records: 91, epochs: 1, batchSize: 8, gradAccum: 8 })?.warnings).toEqual(["few_steps"]);
    expect(adviseEpochs({ records: 10, epochs: 3, batchSize: 4, gradAccum: 4 })?.warnings).toEqual(["few_steps", "below_batch"]);
    expect(adviseEpochs({ records: 91, epochs: 30, batchSize: 1, gradAccum: 1 })?.warnings).toEqual(["memorise"]);
  });

  it("gives no advice for empty or invalid input", () => {
    expect(adviseEpochs({ records: 91, epochs: 0, batchSize: 1, gradAccum: 1 })).toBeNull();
    expect(adviseEpochs({ records: 91, epochs: NaN, batchSize: 1, gradAccum: 1 })).toBeNull();
  });
});
