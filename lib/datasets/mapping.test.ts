import { describe, expect, it } from "vitest";
import { parseCsv, csvRecords, toCsv } from "./csv";
import { applyMapping, guessMapping, sourceColumns } from "./mapping";
import { importMappingSchema } from "../schemas/dataset";

const csvRows = (text: string) => {
  const r = csvRecords(parseCsv(text));
  if (!r.ok) throw new Error(r.message);
  return r.records;
};

describe("column mapping", () => {
  it("maps CSV columns to alpaca and describes them in the entry", () => {
    const rows = csvRows('question,answer,persona\n"Who are you?","I am Q, a bot.",Be kind\nHi,Hello,\n');
    expect(sourceColumns(rows)).toEqual(["question", "answer", "persona"]);
    const guess = guessMapping(sourceColumns(rows));
    expect(guess).toMatchObject({ format: "alpaca", instruction: "question", output: "answer", input: "" });
    const m = importMappingSchema.parse({ ...guess, system: "persona" });
    const out = applyMapping(rows, m);
    expect(out).toEqual({
      ok: true,
      records: [
        { instruction: "Who are you?", input: "", output: "I am Q, a bot.", system: "Be kind" },
        { instruction: "Hi", input: "", output: "Hello", system: "" },
      ],
      entry: { formatting: "alpaca", columns: { prompt: "instruction", query: "input", response: "output", system: "system" } },
    });
  });

  it("names the record and the mapping field of a bad row", () => {
    const rows = csvRows("q,a\nHi,Hello\nBye,\n");
    const out = applyMapping(rows, importMappingSchema.parse({ format: "alpaca", instruction: "q", output: "a" }));
    expect(out).toEqual({ ok: false, field: "output", recordIndex: 1, message: "record 1: output: must be a non-empty string" });
  });

  it("parses a JSON-list cell as history, and refuses one that is not JSON", () => {
    const rows = [{ q: "And now?", a: "Still me.", h: '[["Hi","Hello"]]' }, { q: "x", a: "y", h: "" }];
    const m = importMappingSchema.parse({ format: "alpaca", instruction: "q", output: "a", history: "h" });
    const out = applyMapping(rows, m);
    expect(out.ok && out.records[0]).toEqual({ instruction: "And now?", input: "", output: "Still me.", history: [["Hi", "Hello"]] });
    expect(out.ok && out.entry.columns).toEqual({ prompt: "instruction", query: "input", response: "output", history: "history" });
    const bad = applyMapping([{ q: "x", a: "y", h: "[oops" }], m);
    expect(bad).toMatchObject({ ok: false, field: "history", recordIndex: 0 });
  });

  it("maps custom role tags to sharegpt's from/value with human/gpt", () => {
    const rows = [{ dialog: [{ speaker: "me", text: "Hi" }, { speaker: "bot", text: "Hello" }] }];
    const m = importMappingSchema.parse({ format: "sharegpt", messages: "dialog", roleKey: "speaker", contentKey: "text", userTag: "me", assistantTag: "bot" });
    expect(applyMapping(rows, m)).toEqual({
      ok: true,
      records: [{ conversations: [{ from: "human", value: "Hi" }, { from: "gpt", value: "Hello" }] }],
      entry: { formatting: "sharegpt" },
    });
    const bad = applyMapping([{ dialog: [{ speaker: "you", text: "Hi" }] }], m);
    expect(bad).toMatchObject({ ok: false, field: "roleKey", recordIndex: 0 });
    expect(!bad.ok && bad.message).toContain('dialog[0].speaker is "you"');
  });

  it("keeps OpenAI messages (JSON text in a CSV cell too) and validates their order", () => {
    const msgs = [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }, { role: "assistant", content: "Hello" }];
    const rows = [{ messages: JSON.stringify(msgs), extra: "x" }];
    expect(guessMapping(sourceColumns(rows))).toEqual({ format: "openai", messages: "messages" });
    const out = applyMapping(rows, { format: "openai", messages: "messages" });
    expect(out).toMatchObject({ ok: true, records: [{ messages: msgs }], entry: { formatting: "sharegpt", columns: { messages: "messages" } } });
    const bad = applyMapping([{ messages: [{ role: "user", content: "Hi" }] }], { format: "openai", messages: "messages" });
    expect(bad).toMatchObject({ ok: false, field: "messages", recordIndex: 0 });
  });

  it("refuses an empty file and non-object rows", () => {
    const m = importMappingSchema.parse({ format: "alpaca", instruction: "q", output: "a" });
    expect(applyMapping([], m)).toMatchObject({ ok: false, field: "file" });
    expect(applyMapping([["q", "a"]], m)).toMatchObject({ ok: false, field: "file", recordIndex: 0 });
  });

  it("requires the instruction and output columns by name", () => {
    const r = importMappingSchema.safeParse({ format: "alpaca", instruction: "q", output: "" });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]).toMatchObject({ path: ["output"], message: "choose the output column" });
  });
});

describe("toCsv", () => {
  it("round-trips through the reader (commas, quotes, line breaks)", () => {
    const records = [{ a: 'say "hi", then', b: "two\nlines" }, { a: " padded", b: "" }];
    expect(csvRows(toCsv(["a", "b"], records))).toEqual(records);
  });
});
