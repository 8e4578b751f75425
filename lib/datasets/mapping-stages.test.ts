// The import's mapping step for the other stages' records: preference pairs, KTO, pre-training text.
import { describe, expect, it } from "vitest";
import { csvRecords, parseCsv } from "./csv";
import { applyMapping, guessMapping, sourceColumns } from "./mapping";
import { datasetKind } from "./kind";
import { importMappingSchema } from "../schemas/dataset";

const csvRows = (text: string) => {
  const r = csvRecords(parseCsv(text));
  if (!r.ok) throw new Error(r.message);
  return r.records;
};

describe("mapping preference pairs", () => {
  const rows = csvRows("question,good,bad\nWho are you?,I am Greatbot.,I am ChatGPT.\nWho made you?,Allen.,OpenAI.\n");

  it("maps chosen/rejected columns to a ranking entry the trainer reads", () => {
    const m = importMappingSchema.parse({ format: "preference", instruction: "question", chosen: "good", rejected: "bad" });
    const out = applyMapping(rows, m);
    expect(out).toEqual({
      ok: true,
      records: [
        { instruction: "Who are you?", input: "", chosen: "I am Greatbot.", rejected: "I am ChatGPT." },
        { instruction: "Who made you?", input: "", chosen: "Allen.", rejected: "OpenAI." },
      ],
      entry: { formatting: "alpaca", ranking: true, columns: { prompt: "instruction", query: "input", chosen: "chosen", rejected: "rejected" } },
    });
    if (out.ok) expect(datasetKind(out.entry)).toBe("preference");
  });

  it("guesses a preference mapping from well-named columns", () => {
    expect(guessMapping(["prompt", "chosen", "rejected"])).toMatchObject({ format: "preference", instruction: "prompt", chosen: "chosen", rejected: "rejected" });
  });

  it("refuses, at the mapping field, a pair whose answers are the same or missing, and an empty prompt", () => {
    const same = csvRows("q,a,b\nHi,Same.,Same.\n");
    expect(applyMapping(same, importMappingSchema.parse({ format: "preference", instruction: "q", chosen: "a", rejected: "b" }))).toMatchObject({
      ok: false,
      field: "rejected",
      recordIndex: 0,
    });
    const missing = csvRows("q,a,b\nHi,Yes.,\n");
    expect(applyMapping(missing, importMappingSchema.parse({ format: "preference", instruction: "q", chosen: "a", rejected: "b" }))).toMatchObject({ ok: false, field: "rejected" });
    const empty = csvRows("q,a,b\n,Yes.,No.\n");
    expect(applyMapping(empty, importMappingSchema.parse({ format: "preference", instruction: "q", chosen: "a", rejected: "b" }))).toMatchObject({ ok: false, field: "instruction" });
    expect(importMappingSchema.safeParse({ format: "preference", instruction: "q", chosen: "a", rejected: "" }).success).toBe(false);
  });
});

describe("mapping KTO and pre-training text", () => {
  it("maps a true/false column to KTO's boolean tag", () => {
    const rows = csvRows("q,a,ok\nWho are you?,I am Greatbot.,yes\nWho are you?,I am ChatGPT.,FALSE\n");
    const out = applyMapping(rows, importMappingSchema.parse({ format: "kto", instruction: "q", output: "a", ktoTag: "ok" }));
    expect(out.ok && out.records.map((r) => (r as { kto_tag: boolean }).kto_tag)).toEqual([true, false]);
    expect(out.ok && datasetKind(out.entry)).toBe("kto");
    const bad = csvRows("q,a,ok\nWho are you?,I am Greatbot.,maybe\n");
    expect(applyMapping(bad, importMappingSchema.parse({ format: "kto", instruction: "q", output: "a", ktoTag: "ok" }))).toMatchObject({ ok: false, field: "ktoTag", recordIndex: 0 });
  });

  it("maps one text column to a pre-training entry, refusing an empty document", () => {
    const rows = [{ body: "Greatbot was made by Allen." }, { body: "A second document." }];
    expect(sourceColumns(rows)).toEqual(["body"]);
    const out = applyMapping(rows, importMappingSchema.parse({ format: "text", text: "body" }));
    expect(out).toEqual({ ok: true, records: [{ text: "Greatbot was made by Allen." }, { text: "A second document." }], entry: { formatting: "alpaca", columns: { prompt: "text" } } });
    expect(out.ok && datasetKind(out.entry)).toBe("pretraining");
    expect(applyMapping([{ body: " " }], importMappingSchema.parse({ format: "text", text: "body" }))).toMatchObject({ ok: false, field: "text" });
    expect(guessMapping(["text"])).toEqual({ format: "text", text: "text" });
  });
});
