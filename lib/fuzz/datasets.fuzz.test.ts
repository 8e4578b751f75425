// Property-based fuzzing of the dataset importer (fast-check): random records and random files
// (.json, .jsonl, .csv) either load or fail with a DatasetError that names the form field and,
// for a bad record, the record's index — never with anything else.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatasetError } from "@/lib/datasets/errors";
import { resolveLayout, validateRecords } from "@/lib/datasets/formats";
import { loadDataset } from "@/lib/datasets/registry";

const NUM_RUNS = 200;

const text = fc.oneof(fc.string(), fc.constantFrom("", " ", "\n", "{{name}}", "\u0000", "\ufeff", '"', ",", "\r\n"));
const value = fc.oneof(text, fc.constant(null), fc.integer(), fc.boolean(), fc.array(text, { maxLength: 3 }), fc.array(fc.array(text, { maxLength: 3 }), { maxLength: 2 }), fc.object({ maxDepth: 1 }));
const goodAlpaca = fc.record({ instruction: text, input: text, output: fc.string({ minLength: 1 }).map((s) => `a${s}`) });
const badAlpaca = fc.oneof(
  fc.dictionary(fc.constantFrom("instruction", "input", "output", "system", "history", "tools", "x"), value),
  fc.anything({ maxDepth: 2 }),
);
const goodSharegpt = fc.record({
  conversations: fc.constant([
    { from: "human", value: "hi" },
    { from: "gpt", value: "hello" },
  ]),
});
const badSharegpt = fc.oneof(
  fc.record({ conversations: fc.array(fc.record({ from: fc.oneof(text, fc.constantFrom("human", "gpt", "system")), value }), { maxLength: 4 }) }),
  fc.dictionary(fc.constantFrom("conversations", "system", "tools"), value),
  fc.anything({ maxDepth: 2 }),
);
const records = (good: fc.Arbitrary<unknown>, bad: fc.Arbitrary<unknown>) =>
  fc.array(fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: bad }), { maxLength: 12 });

function expectNamedError(err: unknown, field: string, recordCount: number | null) {
  expect(err).toBeInstanceOf(DatasetError);
  const e = err as DatasetError;
  expect(e.field).toBe(field);
  expect(e.message.length).toBeGreaterThan(0);
  if (e.code === "invalid_record") {
    expect(e.recordIndex).toBeTypeOf("number");
    expect(e.message).toContain(`record ${e.recordIndex}`);
    if (recordCount !== null) expect(e.recordIndex!).toBeLessThan(recordCount);
  }
}

describe("validateRecords under fuzzing", () => {
  const ctx = { name: "fuzz", field: "dataset" };
  it.each([
    ["alpaca", records(goodAlpaca, badAlpaca)],
    ["sharegpt", records(goodSharegpt, badSharegpt)],
  ] as const)("%s: valid, or a DatasetError naming the first bad record", (formatting, arb) => {
    const layout = resolveLayout({ file_name: "x.json", formatting } as never, ctx);
    fc.assert(
      fc.property(arb, (raw) => {
        try {
          const out = validateRecords(raw, layout, ctx);
          expect(out.records).toHaveLength(raw.length);
        } catch (err) {
          expectNamedError(err, "dataset", raw.length);
          expect((err as DatasetError).code).toBe("invalid_record");
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("loadDataset on generated files", () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-fuzz-data-"));
    fs.writeFileSync(
      path.join(dataDir, "dataset_info.json"),
      JSON.stringify({
        fuzz_json: { file_name: "fuzz.json" },
        fuzz_jsonl: { file_name: "fuzz.jsonl" },
        fuzz_csv: { file_name: "fuzz.csv" },
        fuzz_sharegpt: { file_name: "fuzz_sharegpt.json", formatting: "sharegpt" },
      }),
    );
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  const csvCell = fc.oneof(text, fc.constantFrom('"', '""', '"a,b"', "a\nb", "\r"));
  const files = fc.oneof(
    // JSON: random text, random JSON, or a list of records (some bad).
    fc.oneof(text, fc.json(), records(goodAlpaca, badAlpaca).map((r) => JSON.stringify(r))).map((content) => ({ name: "fuzz_json", file: "fuzz.json", content })),
    // JSON lines: records and garbage lines.
    fc
      .array(fc.oneof({ weight: 4, arbitrary: goodAlpaca.map((r) => JSON.stringify(r)) }, { weight: 1, arbitrary: fc.oneof(text, fc.json()) }), { maxLength: 10 })
      .map((lines) => ({ name: "fuzz_jsonl", file: "fuzz.jsonl", content: lines.join("\n") })),
    // CSV: a header (usually the right one) and rows of random cells, ragged or not.
    fc
      .tuple(
        fc.oneof(fc.constant(["instruction", "input", "output"]), fc.array(csvCell, { maxLength: 4 })),
        fc.array(fc.array(csvCell, { maxLength: 4 }), { maxLength: 8 }),
      )
      .map(([header, rows]) => ({ name: "fuzz_csv", file: "fuzz.csv", content: [header, ...rows].map((r) => r.join(",")).join("\n") })),
    records(goodSharegpt, badSharegpt).map((r) => ({ name: "fuzz_sharegpt", file: "fuzz_sharegpt.json", content: JSON.stringify(r) })),
    // Raw bytes, invalid UTF-8 included.
    fc.uint8Array({ maxLength: 64 }).map((b) => ({ name: "fuzz_json", file: "fuzz.json", content: Buffer.from(b) })),
  );

  it("loads, or fails with a DatasetError on the field (and the record index for a bad record)", async () => {
    await fc.assert(
      fc.asyncProperty(files, async ({ name, file, content }) => {
        fs.writeFileSync(path.join(dataDir, file), content);
        try {
          const ds = await loadDataset(dataDir, name, "dataset");
          expect(Array.isArray(ds.records)).toBe(true);
        } catch (err) {
          expectNamedError(err, "dataset", null);
          const e = err as DatasetError;
          expect(["invalid_record", "invalid_file"]).toContain(e.code);
          expect(e.message).toContain(`dataset "${name}"`);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
