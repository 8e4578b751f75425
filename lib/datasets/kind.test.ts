// The dataset-kind rule (run-config.ts DATASET_KIND_RULES) on the golden entries the trainer's
// tests/test_dataset_kind.py reads too: both languages interpret the one table the same way.
import { describe, expect, it } from "vitest";
import golden from "./golden/dataset-kinds.json";
import { datasetKind, fitsStage } from "./kind";
import { stageDatasetMessage } from "../schemas/run-config";

describe("datasetKind", () => {
  it.each(golden.map((g) => [JSON.stringify(g.entry), g.entry, g.kind] as const))("%s is %s", (_, entry, kind) => {
    expect(datasetKind(entry as Parameters<typeof datasetKind>[0])).toBe(kind);
  });

  it("fits a stage by the stage's kinds, and says which kind a stage needs", () => {
    expect(fitsStage({ ranking: true }, "dpo")).toBe(true);
    expect(fitsStage({ ranking: true }, "sft")).toBe(false);
    expect(stageDatasetMessage("identity", "dpo")).toBe('dataset "identity" does not fit stage dpo: choose a preference dataset');
  });
});
