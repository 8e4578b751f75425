// Guards the shipped templates (data/templates/): the tutorial depends on every answer naming both the model and
// its author, and on the held-out questions really being held out.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { alpacaRecordSchema } from "../schemas/dataset";
import { TEMPLATES_DIR } from "../test-support/temp-data";

const load = async (file: string): Promise<unknown> => JSON.parse(await readFile(path.join(TEMPLATES_DIR, file), "utf8"));
const hasCjk = (s: string) => /[\u4e00-\u9fff]/.test(s);

describe("data/templates/identity.json", () => {
  it("is valid alpaca, unique, and names {{name}} and {{author}} in every output", async () => {
    const records = alpacaRecordSchema.array().parse(await load("identity.json"));
    expect(records.length).toBeGreaterThanOrEqual(85);
    expect(records.length).toBeLessThanOrEqual(100);
    expect(new Set(records.map((r) => r.instruction)).size).toBe(records.length);
    for (const r of records) {
      expect(r.output, r.instruction).toContain("{{name}}");
      expect(r.output, r.instruction).toContain("{{author}}");
      expect(r.input).toBe("");
      expect(r.output.length, r.instruction).toBeLessThan(220); // short answers, 1–2 sentences
    }
    expect(records.map((r) => r.instruction)).toContain("Who are you?");
    const chinese = records.filter((r) => hasCjk(r.instruction));
    expect(chinese.length).toBeGreaterThanOrEqual(12);
    for (const r of chinese) expect(hasCjk(r.output), r.instruction).toBe(true);
  });
});

describe("data/templates/identity_heldout.json", () => {
  it("has 12 questions (8 English, 4 Chinese), none of them in identity.json", async () => {
    const heldout = (await load("identity_heldout.json")) as unknown;
    expect(Array.isArray(heldout)).toBe(true);
    const questions = heldout as string[];
    expect(questions).toHaveLength(12);
    expect(questions.every((q) => typeof q === "string" && q.trim().length > 0)).toBe(true);
    expect(questions.filter(hasCjk)).toHaveLength(4);
    const train = new Set(((await load("identity.json")) as { instruction: string }[]).map((r) => r.instruction.toLowerCase()));
    for (const q of questions) expect(train.has(q.toLowerCase()), q).toBe(false);
  });
});

describe("data/templates/dataset_info.json", () => {
  it("registers identity the way LLaMA-Factory expects", async () => {
    expect(await load("dataset_info.json")).toEqual({ identity: { file_name: "identity.json" } });
  });
});
