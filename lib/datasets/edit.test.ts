// Record edits and imports against a throwaway data folder seeded from the templates (real files, real lock).
import { readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { addRecord, deleteRecord, readPage, updateRecord } from "./edit";
import { DatasetError } from "./errors";
import { commitImport, IMPORT_DIR, IMPORT_MAX_BYTES, stageUpload } from "./import";
import { listDatasets, loadDataset, registerDataset } from "./registry";
import { useTempData } from "../test-support/temp-data";
import { translateMessage } from "@/lib/i18n/validation";

const tmp = useTempData();
const { readText, caught } = tmp;

describe("record edits", () => {
  it("pages the records and saves an edit to disk, keeping the others", async () => {
    const before = JSON.parse(await readText("identity.json")) as Record<string, string>[];
    const page = await readPage(tmp.dataDir, "identity", 2, 10);
    expect(page).toMatchObject({ total: 164, page: 2, pages: 17, format: "alpaca" });
    const row = page.rows[0]!;
    expect(row.index).toBe(10);
    const fields = Object.fromEntries(row.fields.map((f) => [f.key, f.value]));
    await updateRecord(tmp.dataDir, { dataset: "identity", index: 10, expected: row.expected, fields: { ...fields, output: "Edited answer." }, jsonKeys: [] });
    const after = JSON.parse(await readText("identity.json")) as Record<string, string>[];
    expect(after[10]).toEqual({ ...before[10], output: "Edited answer." });
    expect(after.filter((_, i) => i !== 10)).toEqual(before.filter((_, i) => i !== 10));
    expect(Object.keys(after[10]!)).toEqual(Object.keys(before[10]!)); // key order kept
  });

  it("refuses a bad edit at the field, naming the record, and changes nothing", async () => {
    const original = await readText("identity.json");
    const row = (await readPage(tmp.dataDir, "identity", 1, 10)).rows[3]!;
    const fields = Object.fromEntries(row.fields.map((f) => [f.key, f.value]));
    const err = await caught(updateRecord(tmp.dataDir, { dataset: "identity", index: 3, expected: row.expected, fields: { ...fields, output: "  " }, jsonKeys: [] }));
    expect(err).toBeInstanceOf(DatasetError);
    expect(err).toMatchObject({ field: "output", recordIndex: 3, message: "record 3: output: must be a non-empty string" });
    const blank = await caught(updateRecord(tmp.dataDir, { dataset: "identity", index: 3, expected: row.expected, fields: { ...fields, instruction: "", input: "" }, jsonKeys: [] }));
    expect(blank).toMatchObject({ field: "instruction", recordIndex: 3 });
    const json = await caught(updateRecord(tmp.dataDir, { dataset: "identity", index: 3, expected: row.expected, fields: { ...fields, history: "[[" }, jsonKeys: ["history"] }));
    expect(json).toMatchObject({ field: "history" });
    expect(json.message).toContain("not valid JSON");
    expect(await readText("identity.json")).toBe(original);
  });

  it("its refusals have Chinese for the Chinese UI (app/datasets/actions.ts translates them)", async () => {
    const row = (await readPage(tmp.dataDir, "identity", 1, 10)).rows[3]!;
    const fields = Object.fromEntries(row.fields.map((f) => [f.key, f.value]));
    const edit = (patch: Record<string, string>, jsonKeys: string[] = []) =>
      caught(updateRecord(tmp.dataDir, { dataset: "identity", index: 3, expected: row.expected, fields: { ...fields, ...patch }, jsonKeys }));
    expect(translateMessage((await edit({ output: "  " })).message, "zh")).toBe("记录 3：output：必须是非空字符串");
    expect(translateMessage((await edit({ instruction: "", input: "" })).message, "zh")).toBe("记录 3：instruction：不能为空（否则提示词为空）");
    expect(translateMessage((await edit({ history: "[[" }, ["history"])).message, "zh")).toMatch(/^记录 3：history：不是有效的 JSON（.+）$/);
    const stale = await caught(updateRecord(tmp.dataDir, { dataset: "identity", index: 3, expected: "stale", fields, jsonKeys: [] }));
    expect(translateMessage(stale.message, "zh")).toBe("记录 3 在你打开后已被其他地方修改；请刷新页面查看新版本");
  });

  it("refuses to overwrite a record changed elsewhere since it was opened", async () => {
    const row = (await readPage(tmp.dataDir, "identity", 1, 10)).rows[0]!;
    const fields = Object.fromEntries(row.fields.map((f) => [f.key, f.value]));
    await updateRecord(tmp.dataDir, { dataset: "identity", index: 0, expected: row.expected, fields: { ...fields, output: "First save." }, jsonKeys: [] });
    const err = await caught(updateRecord(tmp.dataDir, { dataset: "identity", index: 0, expected: row.expected, fields: { ...fields, output: "Stale save." }, jsonKeys: [] }));
    expect(err).toMatchObject({ field: "record" });
    expect(err.message).toContain("changed elsewhere");
    expect(JSON.parse(await readText("identity.json"))[0].output).toBe("First save.");
  });

  it("adds and deletes records", async () => {
    const page = await readPage(tmp.dataDir, "identity", 1, 10);
    expect(page.blank.fields.map((f) => f.key)).toEqual(["instruction", "input", "output"]);
    await addRecord(tmp.dataDir, { dataset: "identity", fields: { instruction: "New?", input: "", output: "Yes." }, jsonKeys: [] });
    let loaded = await loadDataset(tmp.dataDir, "identity");
    expect(loaded.raw).toHaveLength(165);
    expect(loaded.raw[164]).toEqual({ instruction: "New?", input: "", output: "Yes." });
    const bad = await caught(addRecord(tmp.dataDir, { dataset: "identity", fields: { instruction: "x", input: "", output: "" }, jsonKeys: [] }));
    expect(bad).toMatchObject({ field: "output", recordIndex: 165 });
    const first = (await readPage(tmp.dataDir, "identity", 1, 10)).rows[0]!;
    await deleteRecord(tmp.dataDir, { dataset: "identity", index: 0, expected: first.expected });
    loaded = await loadDataset(tmp.dataDir, "identity");
    expect(loaded.raw).toHaveLength(164);
    expect(JSON.stringify(loaded.raw[0])).not.toBe(first.expected);
  });

  it("rewrites CSV and JSONL files in their own format", async () => {
    await writeFile(path.join(tmp.dataDir, "qa.csv"), 'instruction,input,output\nHi,,"Hello, you"\n');
    await registerDataset(tmp.dataDir, "qa", "qa.csv");
    const row = (await readPage(tmp.dataDir, "qa", 1, 10)).rows[0]!;
    await updateRecord(tmp.dataDir, { dataset: "qa", index: 0, expected: row.expected, fields: { instruction: "Hi", input: "", output: 'Say "hi", then' }, jsonKeys: [] });
    expect(await readText("qa.csv")).toBe('instruction,input,output\r\nHi,,"Say ""hi"", then"\r\n');
    await writeFile(path.join(tmp.dataDir, "chat.jsonl"), `${JSON.stringify({ conversations: [{ from: "human", value: "Hi" }, { from: "gpt", value: "Hello" }] })}\n`);
    await registerDataset(tmp.dataDir, "chat", "chat.jsonl", { formatting: "sharegpt" });
    const chat = await readPage(tmp.dataDir, "chat", 1, 10);
    expect(chat.rows[0]!.fields[0]).toMatchObject({ key: "conversations", json: true });
    const edited = [{ from: "human", value: "Hi" }, { from: "gpt", value: "Hey" }];
    await updateRecord(tmp.dataDir, { dataset: "chat", index: 0, expected: chat.rows[0]!.expected, fields: { conversations: JSON.stringify(edited) }, jsonKeys: ["conversations"] });
    expect(await readText("chat.jsonl")).toBe(`${JSON.stringify({ conversations: edited })}\n`);
    const bad = await caught(updateRecord(tmp.dataDir, { dataset: "chat", index: 0, expected: JSON.stringify({ conversations: edited }), fields: { conversations: JSON.stringify(edited.slice(0, 1)) }, jsonKeys: ["conversations"] }));
    expect(bad).toMatchObject({ field: "conversations", recordIndex: 0 });
  });
});

describe("import", () => {
  const csv = "question,answer\nWho are you?,I am Q.\nWhat can you do?,\"Answer, mostly.\"\n";

  it("stages a CSV, maps it, registers it with the right count, and cleans up the upload", async () => {
    const staged = await stageUpload(tmp.dataDir, "faq.csv", new TextEncoder().encode(csv));
    expect(staged).toMatchObject({ fileName: "faq.csv", count: 2, columns: ["question", "answer"] });
    const result = await commitImport(tmp.dataDir, { uploadId: staged.uploadId, name: "faq", mapping: { format: "alpaca", instruction: "question", output: "answer" } });
    expect(result).toEqual({ name: "faq", fileName: "faq.json", records: 2 });
    const list = await listDatasets(tmp.dataDir);
    expect(list.find((d) => d.name === "faq")).toMatchObject({ records: 2, formatting: "alpaca", fileName: "faq.json" });
    expect((await loadDataset(tmp.dataDir, "faq")).records[1]!.messages[1]!.content).toBe("Answer, mostly.");
    expect(await readdir(path.join(tmp.dataDir, IMPORT_DIR))).toEqual([]);
  });

  it("refuses at the field: taken names, bad names, bad mappings, bad files, oversize files", async () => {
    const staged = await stageUpload(tmp.dataDir, "faq.csv", new TextEncoder().encode(csv));
    const mapping = { format: "alpaca", instruction: "question", output: "answer" };
    expect(await caught(commitImport(tmp.dataDir, { uploadId: staged.uploadId, name: "identity", mapping }))).toMatchObject({ field: "name", code: "already_exists" });
    expect(await caught(commitImport(tmp.dataDir, { uploadId: staged.uploadId, name: "../x", mapping }))).toMatchObject({ field: "name" });
    expect(await caught(commitImport(tmp.dataDir, { uploadId: staged.uploadId, name: "faq", mapping: { ...mapping, output: "" } }))).toMatchObject({ field: "output" });
    const wrong = await caught(commitImport(tmp.dataDir, { uploadId: staged.uploadId, name: "faq", mapping: { ...mapping, output: "nope" } }));
    expect(wrong).toMatchObject({ field: "output", recordIndex: 0 });
    expect(await caught(commitImport(tmp.dataDir, { uploadId: "../../etc/passwd", name: "faq", mapping }))).toMatchObject({ field: "file" });
    expect(await caught(stageUpload(tmp.dataDir, "x.txt", new Uint8Array(3)))).toMatchObject({ field: "file", code: "unsupported" });
    const broken = await caught(stageUpload(tmp.dataDir, "x.json", new TextEncoder().encode("{oops")));
    expect(broken.message).toMatch(/^x\.json: not valid JSON/);
    expect(await caught(stageUpload(tmp.dataDir, "big.json", new Uint8Array(IMPORT_MAX_BYTES + 1)))).toMatchObject({ field: "file" });
    expect((await listDatasets(tmp.dataDir)).map((d) => d.name)).toEqual(["identity", "identity_pref"]);
  });
});
