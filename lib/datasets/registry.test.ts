import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DatasetError } from "./errors";
import { listDatasets, readDataset, readRegistry, registerDataset } from "./registry";
import { createTempData, type TempData } from "../test-support/temp-data";

let tmp: TempData;
beforeEach(async () => {
  tmp = await createTempData();
});
afterEach(async () => {
  await tmp.cleanup();
});

const readJson = async (file: string): Promise<unknown> => JSON.parse(await readFile(path.join(tmp.dataDir, file), "utf8"));
const writeJson = (file: string, value: unknown) => writeFile(path.join(tmp.dataDir, file), JSON.stringify(value, null, 2));
const caught = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

describe("listDatasets", () => {
  it("counts the real identity datasets", async () => {
    const expected = (await readJson("identity.json")) as unknown[];
    const list = await listDatasets(tmp.dataDir);
    expect(list.map((d) => [d.name, d.kind])).toEqual([
      ["identity", "sft"],
      ["identity_pref", "preference"],
    ]);
    expect(list[1]).toMatchObject({ records: 164, hasPlaceholders: true });
    expect(list[1]?.error).toBeUndefined();
    expect(list[0]).toEqual({
      name: "identity",
      fileName: "identity.json",
      formatting: "alpaca",
      kind: "sft",
      records: expected.length,
      sizeBytes: (await stat(path.join(tmp.dataDir, "identity.json"))).size,
      hasPlaceholders: true,
    });
    expect(expected.length).toBeGreaterThanOrEqual(85);
  });

  it("still lists the other datasets when one file is broken, with the reason", async () => {
    await writeJson("dataset_info.json", { identity: { file_name: "identity.json" }, gone: { file_name: "gone.json" } });
    const list = await listDatasets(tmp.dataDir);
    expect(list.map((d) => d.name)).toEqual(["identity", "gone"]);
    expect(list[1]).toMatchObject({ records: null, error: expect.stringContaining("does not exist") });
  });

  it("skips hub-only entries, which have no local file", async () => {
    await writeJson("dataset_info.json", {
      identity: { file_name: "identity.json" },
      alpaca_en: { hf_hub_url: "llamafactory/alpaca_en", ms_hub_url: "llamafactory/alpaca_en" },
    });
    expect((await listDatasets(tmp.dataDir)).map((d) => d.name)).toEqual(["identity"]);
  });
});

describe("readDataset", () => {
  it("returns validated records of the real identity dataset", async () => {
    const records = await readDataset(tmp.dataDir, "identity");
    expect(records[0]).toEqual({
      instruction: "Who are you?",
      input: "",
      output: expect.stringContaining("{{name}}"),
    });
  });

  it("names the record index and field of a malformed record", async () => {
    const records = (await readJson("identity.json")) as Record<string, unknown>[];
    records[12] = { ...records[12], output: "" };
    await writeJson("identity.json", records);
    const err = await caught(readDataset(tmp.dataDir, "identity"));
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).message).toBe('dataset "identity": record 12: output: must be a non-empty string');
    expect((err as DatasetError).recordIndex).toBe(12);
    expect((err as DatasetError).code).toBe("invalid_record");
  });

  it("reports a missing field and a non-object record", async () => {
    await writeJson("identity.json", [{ instruction: "hi", output: "hello" }, { instruction: "hi" }]);
    expect(((await caught(readDataset(tmp.dataDir, "identity"))) as Error).message).toBe(
      'dataset "identity": record 1: output: must be a non-empty string',
    );
    await writeJson("identity.json", [{ instruction: "hi", output: "hello" }, "oops"]);
    expect(((await caught(readDataset(tmp.dataDir, "identity"))) as Error).message).toBe('dataset "identity": record 1: must be an object');
  });

  it("honours a columns mapping and names the file's own column in errors", async () => {
    await writeJson("dataset_info.json", {
      qa: { file_name: "qa.json", columns: { prompt: "question", response: "answer", system: "sys" } },
    });
    await writeJson("qa.json", [{ question: "q", answer: "a", sys: "be brief" }, { question: "q2", answer: 7 }]);
    const err = await caught(readDataset(tmp.dataDir, "qa"));
    expect((err as Error).message).toBe('dataset "qa": record 1: answer: must be a non-empty string');
    await writeJson("qa.json", [{ question: "q", answer: "a", sys: "be brief", input: null }]);
    expect(await readDataset(tmp.dataDir, "qa")).toEqual([{ instruction: "q", input: "", output: "a", system: "be brief" }]);
  });

  it("refuses an unknown dataset", async () => {
    const err = await caught(readDataset(tmp.dataDir, "nope"));
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).code).toBe("not_found");
    expect((err as DatasetError).message).toContain('"nope"');
  });

  it("does not treat Object.prototype keys as datasets", async () => {
    expect(((await caught(readDataset(tmp.dataDir, "constructor"))) as DatasetError).code).toBe("not_found");
    expect(((await caught(readDataset(tmp.dataDir, "__proto__"))) as DatasetError).code).toBe("not_found");
  });

  it("refuses a registry entry whose file_name escapes the data directory", async () => {
    await writeJson("dataset_info.json", { evil: { file_name: "../../etc/passwd.json" } });
    expect(((await caught(readDataset(tmp.dataDir, "evil"))) as DatasetError).code).toBe("outside_root");
  });
});

describe("readRegistry", () => {
  it("reports a malformed entry by name", async () => {
    await writeJson("dataset_info.json", { broken: { file_name: 3 } });
    const err = await caught(readRegistry(tmp.dataDir));
    expect((err as DatasetError).code).toBe("invalid_registry");
    expect((err as Error).message).toContain('entry "broken"');
  });

  it("treats a missing dataset_info.json as an empty registry", async () => {
    const { rm } = await import("node:fs/promises");
    await rm(path.join(tmp.dataDir, "dataset_info.json"));
    expect(await listDatasets(tmp.dataDir)).toEqual([]);
  });
});

describe("registerDataset", () => {
  const original = {
    identity: { file_name: "identity.json", x_custom: { keep: [1, 2] } },
    alpaca_en: { hf_hub_url: "llamafactory/alpaca_en", ranking: false },
    hub_then_local: { file_name: "identity.json", formatting: "alpaca", num_samples: 10, split: "train" },
  };

  it("rewrites dataset_info.json keeping every existing entry and unknown field", async () => {
    await writeJson("dataset_info.json", original);
    await writeJson("extra.json", [{ instruction: "a", output: "b" }]);
    const entry = await registerDataset(tmp.dataDir, "extra", "extra.json", { tags: { role: "from" }, x_note: "hi" });
    expect(entry).toMatchObject({ file_name: "extra.json", x_note: "hi" });
    expect(await readJson("dataset_info.json")).toEqual({
      ...original,
      extra: { file_name: "extra.json", tags: { role: "from" }, x_note: "hi" },
    });
    // Atomic write leaves no temp files behind.
    expect((await readdir(tmp.dataDir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("inserts after a named entry when asked", async () => {
    await writeJson("dataset_info.json", original);
    await registerDataset(tmp.dataDir, "copy", "identity.json", {}, { after: "identity" });
    expect(Object.keys((await readJson("dataset_info.json")) as object)).toEqual([
      "identity",
      "copy",
      "alpaca_en",
      "hub_then_local",
    ]);
  });

  it("refuses to overwrite an existing name unless overwrite is true", async () => {
    await writeJson("dataset_info.json", original);
    const err = await caught(registerDataset(tmp.dataDir, "identity", "identity.json"));
    expect((err as DatasetError).code).toBe("already_exists");
    expect(await readJson("dataset_info.json")).toEqual(original);

    await registerDataset(tmp.dataDir, "identity", "identity.json", { formatting: "alpaca" }, { overwrite: true });
    const after = (await readJson("dataset_info.json")) as Record<string, unknown>;
    expect(Object.keys(after)).toEqual(Object.keys(original)); // replaced in place
    expect(after.identity).toEqual({ file_name: "identity.json", formatting: "alpaca" });
    expect(after.alpaca_en).toEqual(original.alpaca_en);
  });

  it("refuses bad names, missing files and files outside the data directory", async () => {
    expect(((await caught(registerDataset(tmp.dataDir, "Bad Name", "identity.json"))) as DatasetError).field).toBe("name");
    expect(((await caught(registerDataset(tmp.dataDir, "ok", "missing.json"))) as DatasetError).code).toBe("not_found");
    expect(((await caught(registerDataset(tmp.dataDir, "ok", "../outside.json"))) as DatasetError).code).toBe(
      "outside_root",
    );
  });

  it("loses no entry when registrations race", async () => {
    const names = Array.from({ length: 8 }, (_, i) => `copy_${i}`);
    await Promise.all(names.map((n) => registerDataset(tmp.dataDir, n, "identity.json")));
    expect(Object.keys((await readJson("dataset_info.json")) as object).sort()).toEqual(["identity", "identity_pref", ...names].sort());
  });
});
