import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DatasetError } from "./errors";
import { fillIdentity, fillValue, suggestDatasetName } from "./identity";
import { listDatasets, loadDataset, readDataset } from "./registry";
import { createTempData, type TempData } from "../test-support/temp-data";
import { SEED_RECORD } from "./seed";

let tmp: TempData;
beforeEach(async () => {
  tmp = await createTempData();
});
afterEach(async () => {
  await tmp.cleanup();
});

const readJson = async (file: string): Promise<unknown> => JSON.parse(await readFile(path.join(tmp.dataDir, file), "utf8"));
const caught = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);
const form = { sourceName: "identity", name: "GreatBot", author: "Acme Labs", newName: "identity_greatbot" };

describe("fillIdentity", () => {
  it("writes a filled copy with no placeholders and both names in every output", async () => {
    const result = await fillIdentity(tmp.dataDir, form);
    const source = (await readJson("identity.json")) as unknown[];
    expect(result).toEqual({ name: "identity_greatbot", fileName: "identity_greatbot.json", records: source.length });

    const text = await readFile(path.join(tmp.dataDir, "identity_greatbot.json"), "utf8");
    expect(text).not.toMatch(/\{\{|\}\}/);
    const records = await readDataset(tmp.dataDir, "identity_greatbot");
    expect(records).toHaveLength(source.length);
    for (const [i, r] of records.entries()) {
      expect(r.output, `record ${i}`).toContain("GreatBot");
      expect(r.output, `record ${i}`).toContain("Acme Labs");
    }
  });

  it("registers the copy beside the original, so listDatasets shows it", async () => {
    await fillIdentity(tmp.dataDir, form);
    const registry = (await readJson("dataset_info.json")) as Record<string, unknown>;
    expect(Object.keys(registry)).toEqual(["identity", "identity_greatbot", "identity_pref"]);
    expect(registry.identity_greatbot).toEqual({ file_name: "identity_greatbot.json" });
    const list = await listDatasets(tmp.dataDir);
    expect(list.find((d) => d.name === "identity_greatbot")).toMatchObject({
      fileName: "identity_greatbot.json",
      records: 164,
      hasPlaceholders: false,
    });
    expect(list.find((d) => d.name === "identity")?.hasPlaceholders).toBe(true);
    expect((await readdir(tmp.dataDir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("trims values and keeps replacement patterns like $& literal", async () => {
    await fillIdentity(tmp.dataDir, { ...form, name: "  Bot$&1  ", author: "$1 Team" });
    const records = await readDataset(tmp.dataDir, "identity_greatbot");
    expect(records[0]?.output).toContain("Bot$&1,");
    expect(records[0]?.output).toContain("$1 Team");
  });

  it("fills system, input and history too, and keeps the source's columns mapping", async () => {
    await writeFile(
      path.join(tmp.dataDir, "dataset_info.json"),
      JSON.stringify({
        tpl: { file_name: "tpl.json", columns: { prompt: "q", response: "a", system: "sys", history: "hist" }, file_sha1: "abc", x_keep: 1 },
      }),
    );
    await writeFile(
      path.join(tmp.dataDir, "tpl.json"),
      JSON.stringify([{ q: "Hi {{name}}", a: "I'm {{name}} by {{author}}", sys: "You are {{name}}.", hist: [["who?", "{{author}}'s bot"]] }]),
    );
    await fillIdentity(tmp.dataDir, { ...form, sourceName: "tpl", newName: "tpl_filled" });
    expect(await readJson("tpl_filled.json")).toEqual([
      { q: "Hi GreatBot", a: "I'm GreatBot by Acme Labs", sys: "You are GreatBot.", hist: [["who?", "Acme Labs's bot"]] },
    ]);
    expect(((await readJson("dataset_info.json")) as Record<string, unknown>).tpl_filled).toEqual({
      file_name: "tpl_filled.json",
      columns: { prompt: "q", response: "a", system: "sys", history: "hist" },
      x_keep: 1, // layout and unknown fields are copied; file_sha1 described the old file and is not
    });
  });

  it("refuses form values with placeholders, empty values and bad dataset names, naming the field", async () => {
    const cases: [Partial<typeof form>, string][] = [
      [{ name: "{{name}}" }, "name"],
      [{ author: "Acme }}" }, "author"],
      [{ name: "   " }, "name"],
      [{ author: "x".repeat(65) }, "author"],
      [{ newName: "Identity Great" }, "newName"],
      [{ newName: "../evil" }, "newName"],
      [{ newName: "_hidden" }, "newName"],
    ];
    for (const [override, field] of cases) {
      const err = await caught(fillIdentity(tmp.dataDir, { ...form, ...override }));
      expect(err, JSON.stringify(override)).toBeInstanceOf(DatasetError);
      expect((err as DatasetError).field, JSON.stringify(override)).toBe(field);
      expect((err as DatasetError).code).toBe("invalid_input");
      // The message is shown beside the field: it never starts with the field's internal name.
      expect((err as DatasetError).message, JSON.stringify(override)).not.toMatch(new RegExp(`^${field}:`));
    }
  });

  it("refuses an unknown source dataset on the sourceName field", async () => {
    const err = await caught(fillIdentity(tmp.dataDir, { ...form, sourceName: "nope" }));
    expect(err).toMatchObject({ code: "not_found", field: "sourceName" });
  });

  it("refuses a source without placeholders", async () => {
    await fillIdentity(tmp.dataDir, form);
    const err = await caught(fillIdentity(tmp.dataDir, { ...form, sourceName: "identity_greatbot", newName: "again" }));
    expect(err).toMatchObject({ code: "invalid_input", field: "sourceName" });
  });

  it("refuses a newName already registered, or a file already on disk, and leaves both untouched", async () => {
    await fillIdentity(tmp.dataDir, form);
    const before = await readFile(path.join(tmp.dataDir, "identity_greatbot.json"), "utf8");
    expect(await caught(fillIdentity(tmp.dataDir, { ...form, name: "Other" }))).toMatchObject({
      code: "already_exists",
      field: "newName",
    });
    expect(await readFile(path.join(tmp.dataDir, "identity_greatbot.json"), "utf8")).toBe(before);

    await writeFile(path.join(tmp.dataDir, "wip.json"), "[]");
    expect(await caught(fillIdentity(tmp.dataDir, { ...form, newName: "wip" }))).toMatchObject({
      code: "already_exists",
      field: "newName",
    });
    expect(await readFile(path.join(tmp.dataDir, "wip.json"), "utf8")).toBe("[]");
  });

  it("refuses a template with a malformed record and writes nothing", async () => {
    const records = (await readJson("identity.json")) as Record<string, unknown>[];
    delete records[5]?.output;
    await writeFile(path.join(tmp.dataDir, "identity.json"), JSON.stringify(records));
    const err = await caught(fillIdentity(tmp.dataDir, form));
    expect(err).toMatchObject({ code: "invalid_record", recordIndex: 5, field: "sourceName" });
    expect((await readdir(tmp.dataDir)).sort()).toEqual([
      SEED_RECORD,
      "dataset_info.json",
      "identity.json",
      "identity_heldout.json",
      "identity_pref.json",
    ]);
  });
});

describe("fillIdentity on the preference template", () => {
  const pref = { sourceName: "identity_pref", name: "Greatbot", author: "Allen", newName: "identity_pref_greatbot" };

  it("writes a filled preference copy: chosen answers as the named model, rejected as another assistant", async () => {
    const list = await listDatasets(tmp.dataDir);
    // The template is listed as a preference template, so no form can train on it.
    expect(list.find((d) => d.name === "identity_pref")).toMatchObject({ kind: "preference", hasPlaceholders: true, records: 164 });
    expect(list.find((d) => d.name === "identity_pref")?.error).toBeUndefined();
    const result = await fillIdentity(tmp.dataDir, pref);
    expect(result).toEqual({ name: "identity_pref_greatbot", fileName: "identity_pref_greatbot.json", records: 164 });

    const registry = (await readJson("dataset_info.json")) as Record<string, Record<string, unknown>>;
    expect(Object.keys(registry)).toEqual(["identity", "identity_pref", "identity_pref_greatbot"]);
    expect(registry.identity_pref_greatbot).toEqual({ ...registry.identity_pref, file_name: "identity_pref_greatbot.json" });

    const loaded = await loadDataset(tmp.dataDir, "identity_pref_greatbot");
    expect(loaded.kind).toBe("preference");
    expect(loaded.pairs).toHaveLength(164);
    for (const [i, p] of (loaded.pairs ?? []).entries()) {
      expect(p.chosen, `record ${i}`).toMatch(/Greatbot|Allen/);
      expect(p.rejected, `record ${i}`).not.toMatch(/Greatbot|Allen|\{\{/);
    }
    expect((await listDatasets(tmp.dataDir)).find((d) => d.name === "identity_pref_greatbot")).toMatchObject({ kind: "preference", hasPlaceholders: false });
  });

  it("refuses, at the model name, a name that makes chosen and rejected the same answer, and writes nothing", async () => {
    const err = await caught(fillIdentity(tmp.dataDir, { ...pref, name: "ChatGPT", author: "OpenAI" }));
    expect(err).toMatchObject({ code: "invalid_input", field: "name" });
    expect((err as Error).message).toContain("the same answer");
    expect((await readdir(tmp.dataDir)).includes("identity_pref_greatbot.json")).toBe(false);
  });
});

describe("helpers", () => {
  it("fillValue replaces in values, never in keys", () => {
    expect(fillValue({ "{{name}}": "{{name}}/{{author}}", n: 1 }, "A", "B")).toEqual({ "{{name}}": "A/B", n: 1 });
  });

  it("suggestDatasetName slugs the model name into a valid dataset name", () => {
    expect(suggestDatasetName("identity", "GreatBot")).toBe("identity_greatbot");
    expect(suggestDatasetName("identity", "Great Bot 2.0!")).toBe("identity_great_bot_2_0");
    expect(suggestDatasetName("identity", "小助手")).toBe("identity_custom");
  });
});
