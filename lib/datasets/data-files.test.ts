// Guards the shipped templates (data/templates/): the tutorial depends on every answer naming both the model and
// its author, and on the held-out questions really being held out.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { alpacaRecordSchema } from "../schemas/dataset";
import { TEMPLATES_DIR } from "../test-support/temp-data";

const load = async (file: string): Promise<unknown> => JSON.parse(await readFile(path.join(TEMPLATES_DIR, file), "utf8"));
const hasCjk = (s: string) => /[\u4e00-\u9fff]/.test(s);

describe("data/templates/identity.json", () => {
  it("is valid alpaca, unique, and names {{name}} and {{author}} in every output", async () => {
    const records = alpacaRecordSchema.array().parse(await load("identity.json"));
    expect(records).toHaveLength(164); // README.md and DEMO_MODEL.md quote this number
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
  // Compared without case, spaces and punctuation: "你是谁?" and "你是谁？" are the same question.
  const key = (q: string) => q.toLowerCase().replace(/[\s\p{P}]/gu, "");

  it("has 40 distinct questions (20 English, 20 Chinese), none of them in identity.json", async () => {
    const questions = z.array(z.string().trim().min(1)).parse(await load("identity_heldout.json"));
    expect(questions).toHaveLength(40);
    expect(new Set(questions.map(key)).size).toBe(40);
    expect(questions.filter(hasCjk)).toHaveLength(20);
    const train = new Set(alpacaRecordSchema.array().parse(await load("identity.json")).map((r) => key(r.instruction)));
    for (const q of questions) expect(train.has(key(q)), q).toBe(false);
  });
});

describe("data/templates/identity_pref.json", () => {
  const pairSchema = z.object({ instruction: z.string().min(1), input: z.literal(""), chosen: z.string(), rejected: z.string() }).strict();

  it("pairs every identity question: chosen answers as {{name}} by {{author}}, rejected as another assistant", async () => {
    const pairs = pairSchema.array().parse(await load("identity_pref.json"));
    const questions = alpacaRecordSchema.array().parse(await load("identity.json")).map((r) => r.instruction);
    expect(pairs.map((p) => p.instruction).sort()).toEqual([...questions].sort());
    for (const p of pairs) {
      expect(p.chosen, p.instruction).toContain("{{name}}");
      expect(p.chosen, p.instruction).toContain("{{author}}");
      expect(p.rejected, p.instruction).not.toMatch(/\{\{|\}\}/);
      expect(p.rejected.trim(), p.instruction).not.toBe("");
    }
  });
});

describe("data/templates/dataset_info.json", () => {
  it("registers identity and the identity preference pairs the way LLaMA-Factory expects", async () => {
    expect(await load("dataset_info.json")).toEqual({
      identity: { file_name: "identity.json" },
      // LLaMA-Factory has no default chosen/rejected columns: a ranking entry names them.
      identity_pref: {
        file_name: "identity_pref.json",
        ranking: true,
        columns: { prompt: "instruction", query: "input", chosen: "chosen", rejected: "rejected" },
      },
    });
  });
});
