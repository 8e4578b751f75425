// Seeding the user's data folder from the templates: first start copies them, a second start
// changes no byte, the user's edits and deletions survive, and a template added by a later
// version is offered once. Real files in a temp folder; the templates are the tracked ones.
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile, cp, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SEED_RECORD, seedDataDir } from "./seed";
import { TEMPLATES_DIR } from "../test-support/temp-data";

let base: string;
let dataDir: string;
beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), "tuneboard-seed-"));
  dataDir = path.join(base, "data");
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

const readJson = async (file: string) => JSON.parse(await readFile(path.join(dataDir, file), "utf8")) as Record<string, unknown>;

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const file = path.join(dir, name);
    const s = await stat(file);
    out[name] = `${createHash("sha256").update(await readFile(file)).digest("hex")}@${s.mtimeMs}`;
  }
  return out;
}

describe("seedDataDir", () => {
  it("creates the data folder from the templates on first start", async () => {
    const result = await seedDataDir(TEMPLATES_DIR, dataDir);
    expect(result).toEqual({ copied: ["identity.json", "identity_heldout.json", "identity_pref.json"], registered: ["identity", "identity_pref"] });
    for (const f of ["dataset_info.json", "identity.json", "identity_heldout.json", "identity_pref.json"]) {
      expect(await readFile(path.join(dataDir, f), "utf8")).toBe(await readFile(path.join(TEMPLATES_DIR, f), "utf8"));
    }
    expect(await readJson(SEED_RECORD)).toEqual({
      files: ["identity.json", "identity_heldout.json", "identity_pref.json"],
      entries: ["identity", "identity_pref"],
    });
  });

  it("writes nothing on a second start", async () => {
    await seedDataDir(TEMPLATES_DIR, dataDir);
    const before = await snapshot(dataDir);
    expect(await seedDataDir(TEMPLATES_DIR, dataDir)).toEqual({ copied: [], registered: [] });
    expect(await snapshot(dataDir)).toEqual(before);
  });

  it("never overwrites the user's files or entries, nor brings back what the user deleted", async () => {
    await seedDataDir(TEMPLATES_DIR, dataDir);
    await writeFile(path.join(dataDir, "identity.json"), "[]\n");
    await writeFile(path.join(dataDir, "dataset_info.json"), JSON.stringify({ mine: { file_name: "mine.json" } }));
    await rm(path.join(dataDir, "identity_heldout.json"));
    expect(await seedDataDir(TEMPLATES_DIR, dataDir)).toEqual({ copied: [], registered: [] });
    expect(await readFile(path.join(dataDir, "identity.json"), "utf8")).toBe("[]\n");
    expect(await readJson("dataset_info.json")).toEqual({ mine: { file_name: "mine.json" } });
    expect((await readdir(dataDir)).includes("identity_heldout.json")).toBe(false);
  });

  it("adopts a data folder from before the templates without touching it", async () => {
    await mkdir(dataDir);
    const registry = { identity: { file_name: "identity.json" }, identity_greatbot: { file_name: "identity_greatbot.json" } };
    await writeFile(path.join(dataDir, "dataset_info.json"), JSON.stringify(registry));
    await writeFile(path.join(dataDir, "identity.json"), "[]");
    // The preference template came later than that folder, so it is offered; the user's entries stay as they were.
    expect(await seedDataDir(TEMPLATES_DIR, dataDir)).toEqual({ copied: ["identity_heldout.json", "identity_pref.json"], registered: ["identity_pref"] });
    const templates = JSON.parse(await readFile(path.join(TEMPLATES_DIR, "dataset_info.json"), "utf8")) as Record<string, unknown>;
    expect(await readJson("dataset_info.json")).toEqual({ ...registry, identity_pref: templates.identity_pref });
    expect(await readFile(path.join(dataDir, "identity.json"), "utf8")).toBe("[]");
  });

  it("offers a template added by a later version once, next to the user's entries", async () => {
    const templates = path.join(base, "templates");
    await cp(TEMPLATES_DIR, templates, { recursive: true });
    await seedDataDir(templates, dataDir);
    await writeFile(path.join(dataDir, "dataset_info.json"), JSON.stringify({ identity: { file_name: "identity.json" }, mine: { file_name: "mine.json" } }));

    await writeFile(path.join(templates, "examples.json"), JSON.stringify([{ instruction: "Hi", input: "", output: "Hello." }]));
    const info = JSON.parse(await readFile(path.join(templates, "dataset_info.json"), "utf8")) as Record<string, unknown>;
    await writeFile(path.join(templates, "dataset_info.json"), JSON.stringify({ ...info, examples: { file_name: "examples.json" } }));
    expect(await seedDataDir(templates, dataDir)).toEqual({ copied: ["examples.json"], registered: ["examples"] });
    expect(await readJson("dataset_info.json")).toEqual({
      identity: { file_name: "identity.json" },
      mine: { file_name: "mine.json" },
      examples: { file_name: "examples.json" },
    });

    // Deleted by the user afterwards: a later start leaves it deleted.
    await writeFile(path.join(dataDir, "dataset_info.json"), JSON.stringify({ mine: { file_name: "mine.json" } }));
    await rm(path.join(dataDir, "examples.json"));
    expect(await seedDataDir(templates, dataDir)).toEqual({ copied: [], registered: [] });
  });

  it("says which file is broken instead of replacing it", async () => {
    await mkdir(dataDir);
    await writeFile(path.join(dataDir, "dataset_info.json"), "{oops");
    await expect(seedDataDir(TEMPLATES_DIR, dataDir)).rejects.toThrow(/dataset_info\.json.*not valid JSON/);
    expect(await readFile(path.join(dataDir, "dataset_info.json"), "utf8")).toBe("{oops");
  });
});
