// Preference, KTO and pre-training records edited through the same record actions, against a
// throwaway data folder seeded from the templates (real files, real lock).
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { addRecord, deleteRecord, readPage, updateRecord } from "./edit";
import { fillIdentity } from "./identity";
import { registerDataset } from "./registry";
import { useTempData } from "../test-support/temp-data";

const tmp = useTempData();
const { readText, caught } = tmp;

async function filledPairs() {
  await fillIdentity(tmp.dataDir, { sourceName: "identity_pref", name: "Greatbot", author: "Allen", newName: "pairs" });
  return readPage(tmp.dataDir, "pairs", 1, 10);
}

describe("preference records", () => {
  it("pages a pair with its answer columns for the side-by-side editor, and saves an edit", async () => {
    const page = await filledPairs();
    expect(page).toMatchObject({ kind: "preference", answers: { chosen: "chosen", rejected: "rejected", contentKey: null }, conversation: null, ktoTag: null });
    expect(JSON.parse(page.blank.expected)).toEqual({ instruction: "", input: "", chosen: "", rejected: "" });
    const row = page.rows[0]!;
    const fields = Object.fromEntries(row.fields.map((f) => [f.key, f.value]));
    await updateRecord(tmp.dataDir, { dataset: "pairs", index: 0, expected: row.expected, fields: { ...fields, rejected: "I have no name." }, jsonKeys: [] });
    expect((JSON.parse(await readText("pairs.json")) as Record<string, string>[])[0]?.rejected).toBe("I have no name.");
  });

  it("refuses at the field a missing rejected, chosen == rejected and an empty prompt, writing nothing", async () => {
    const row = (await filledPairs()).rows[1]!;
    const before = await readText("pairs.json");
    const fields = Object.fromEntries(row.fields.map((f) => [f.key, f.value]));
    const edit = (changed: Record<string, string>) =>
      caught(updateRecord(tmp.dataDir, { dataset: "pairs", index: 1, expected: row.expected, fields: { ...fields, ...changed }, jsonKeys: [] }));
    const { rejected: _dropped, ...noRejected } = fields;
    const missing = await caught(updateRecord(tmp.dataDir, { dataset: "pairs", index: 1, expected: row.expected, fields: noRejected, jsonKeys: [] }));
    expect(missing).toMatchObject({ field: "rejected", recordIndex: 1 });
    expect(await edit({ rejected: fields.chosen ?? "" })).toMatchObject({
      field: "rejected",
      message: "record 1: rejected: must differ from the chosen answer (an identical pair teaches nothing)",
    });
    expect(await edit({ instruction: " " })).toMatchObject({ field: "instruction", message: "record 1: instruction: must not be empty (the prompt would be blank)" });
    expect(await readText("pairs.json")).toBe(before);
    // Adding and deleting go through the same rules.
    expect(await caught(addRecord(tmp.dataDir, { dataset: "pairs", fields: { instruction: "Hi", input: "", chosen: "A", rejected: "A" } }))).toMatchObject({ field: "rejected" });
    expect(await addRecord(tmp.dataDir, { dataset: "pairs", fields: { instruction: "Hi", input: "", chosen: "Hello, I am Greatbot.", rejected: "Hello." } })).toEqual({ index: 164 });
    expect(await deleteRecord(tmp.dataDir, { dataset: "pairs", index: 164, expected: JSON.stringify({ instruction: "Hi", input: "", chosen: "Hello, I am Greatbot.", rejected: "Hello." }) })).toEqual({ remaining: 164 });
  });

  it("edits a sharegpt pair's answers as messages", async () => {
    const records = [{ conversations: [{ from: "human", value: "Who are you?" }], chosen: { from: "gpt", value: "Greatbot." }, rejected: { from: "gpt", value: "ChatGPT." } }];
    await writeFile(path.join(tmp.dataDir, "sg.json"), JSON.stringify(records));
    await registerDataset(tmp.dataDir, "sg", "sg.json", { formatting: "sharegpt", ranking: true, columns: { messages: "conversations", chosen: "chosen", rejected: "rejected" } });
    const page = await readPage(tmp.dataDir, "sg", 1, 10);
    expect(page.answers).toEqual({ chosen: "chosen", rejected: "rejected", contentKey: "value" });
    expect(JSON.parse(page.blank.expected)).toEqual({ conversations: [{ from: "human", value: "" }], chosen: { from: "gpt", value: "" }, rejected: { from: "gpt", value: "" } });
    const row = page.rows[0]!;
    const fields = Object.fromEntries(row.fields.map((f) => [f.key, f.value]));
    const err = await caught(updateRecord(tmp.dataDir, { dataset: "sg", index: 0, expected: row.expected, fields: { ...fields, rejected: JSON.stringify({ from: "gpt", value: "Greatbot." }) }, jsonKeys: ["conversations", "chosen", "rejected"] }));
    expect(err).toMatchObject({ field: "rejected" });
  });
});

describe("KTO and pre-training records", () => {
  it("refuses a KTO tag that is not true/false and a blank document, at their columns", async () => {
    await writeFile(path.join(tmp.dataDir, "kto.json"), JSON.stringify([{ instruction: "Who are you?", input: "", output: "Greatbot.", label: true }]));
    await registerDataset(tmp.dataDir, "kto", "kto.json", { columns: { prompt: "instruction", query: "input", response: "output", kto_tag: "label" } });
    const page = await readPage(tmp.dataDir, "kto", 1, 10);
    expect(page).toMatchObject({ kind: "kto", ktoTag: "label" });
    const row = page.rows[0]!;
    const fields = Object.fromEntries(row.fields.map((f) => [f.key, f.value]));
    expect(await caught(updateRecord(tmp.dataDir, { dataset: "kto", index: 0, expected: row.expected, fields: { ...fields, label: "maybe" }, jsonKeys: [] }))).toMatchObject({ field: "label" });
    await updateRecord(tmp.dataDir, { dataset: "kto", index: 0, expected: row.expected, fields: { ...fields, label: "false" }, jsonKeys: ["label"] });
    expect(JSON.parse(await readText("kto.json"))).toEqual([{ instruction: "Who are you?", input: "", output: "Greatbot.", label: false }]);

    await writeFile(path.join(tmp.dataDir, "pt.json"), JSON.stringify([{ text: "A document." }]));
    await registerDataset(tmp.dataDir, "pt", "pt.json", { columns: { prompt: "text" } });
    const pt = await readPage(tmp.dataDir, "pt", 1, 10);
    expect(pt.kind).toBe("pretraining");
    expect(JSON.parse(pt.blank.expected)).toEqual({ text: "" });
    expect(await caught(addRecord(tmp.dataDir, { dataset: "pt", fields: { text: "  " } }))).toMatchObject({ field: "text", message: "record 1: text: must not be empty" });
  });
});
