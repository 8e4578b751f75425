// The stage record rules against the golden cases the trainer's tests read too
// (worker/trainer/tests/test_stage_golden.py): same accept/refuse verdicts, and here the column
// a refusal is marked at.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DATASET_KINDS, type DatasetEntry } from "../schemas/dataset";
import { isDatasetError } from "./errors";
import { resolveLayout, validateRecords } from "./formats";
import { datasetKind, fitsStage } from "./kind";

interface GoldenCase {
  name: string;
  kind: (typeof DATASET_KINDS)[number];
  entry: Omit<DatasetEntry, "file_name">;
  record: unknown;
  refused_at: string | null;
}

const cases = JSON.parse(readFileSync(path.join(__dirname, "golden", "stage-records.json"), "utf8")) as GoldenCase[];

function verdict(c: GoldenCase): string | null {
  const ctx = { name: "golden", field: "record" };
  try {
    validateRecords([c.record], resolveLayout({ file_name: "x.json", ...c.entry }, ctx), ctx);
    return null;
  } catch (err) {
    if (!isDatasetError(err)) throw err;
    expect(err.code).toBe("invalid_record");
    expect(err.message).toMatch(/^dataset "golden": record 0: /);
    return err.column ?? "(no column)";
  }
}

describe("stage records (golden cases shared with the trainer)", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    expect(datasetKind(c.entry)).toBe(c.kind);
    expect(verdict(c)).toBe(c.refused_at);
  });

  it("covers each refusal the trainer names: missing rejected, chosen == rejected, empty prompt", () => {
    const names = cases.map((c) => c.name).join("\n");
    for (const want of ["missing rejected", "chosen == rejected", "empty prompt"]) expect(names).toContain(want);
  });
});

describe("datasetKind", () => {
  it("reads LLaMA-Factory's markers", () => {
    expect(datasetKind({})).toBe("sft");
    expect(datasetKind({ formatting: "sharegpt", columns: { messages: "messages" } })).toBe("sft");
    expect(datasetKind({ ranking: true })).toBe("preference");
    expect(datasetKind({ ranking: false, columns: { kto_tag: "label" } })).toBe("kto");
    expect(datasetKind({ columns: { prompt: "text" } })).toBe("pretraining");
    expect(datasetKind({ columns: { text: "body" } })).toBe("pretraining");
    // Alpaca with a response column is supervised, whatever else it names.
    expect(datasetKind({ columns: { prompt: "q", response: "a" } })).toBe("sft");
    expect(datasetKind({ columns: { prompt: "instruction", query: "input" } })).toBe("sft");
    // sharegpt has no prompt-only form.
    expect(datasetKind({ formatting: "sharegpt", columns: { prompt: "text", messages: "m" } })).toBe("sft");
  });

  it("says which stages a dataset can train", () => {
    expect(fitsStage({}, "sft")).toBe(true);
    expect(fitsStage({}, "dpo")).toBe(false);
    expect(fitsStage({ ranking: true }, "dpo")).toBe(true);
    expect(fitsStage({ ranking: true }, "rm")).toBe(true);
    expect(fitsStage({ ranking: true }, "sft")).toBe(false);
    expect(fitsStage({ columns: { kto_tag: "label", response: "output", prompt: "instruction" } }, "kto")).toBe(true);
    expect(fitsStage({ columns: { text: "t" } }, "pt")).toBe(true);
  });

  it("refuses ranking that is not a boolean in the entry schema", async () => {
    const { datasetEntrySchema } = await import("../schemas/dataset");
    expect(datasetEntrySchema.safeParse({ file_name: "x.json", ranking: "yes" }).success).toBe(false);
    expect(datasetEntrySchema.safeParse({ file_name: "x.json", ranking: true, columns: { chosen: "c", rejected: "r", kto_tag: "k", text: "t" } }).success).toBe(true);
  });
});

describe("refusals in Chinese", () => {
  it("translates the pair, KTO and text refusals", async () => {
    const { translateMessage } = await import("../i18n/validation");
    const han = /[\u4e00-\u9fff]/;
    for (const c of cases.filter((g) => g.refused_at !== null)) {
      const ctx = { name: "golden", field: "record" };
      try {
        validateRecords([c.record], resolveLayout({ file_name: "x.json", ...c.entry }, ctx), ctx);
      } catch (err) {
        const text = (err as Error).message.replace(/^dataset "golden": /, "");
        expect(translateMessage(text, "zh"), `${c.name}: ${text}`).toMatch(han);
      }
    }
  });
});
