// The user's data folder is seeded from the read-only templates tracked in data/templates/.
// Seeding never overwrites: a template file is copied only where the user has no file of that
// name, and a template registry entry is added only where the user's dataset_info.json lacks it.
// A record of what was offered (SEED_RECORD) keeps a template the user deleted from coming back,
// while a template added by a later version is still offered once.
import { constants } from "node:fs";
import { copyFile, mkdir, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { toJsonText, writeFileAtomic } from "./atomic";
import { isNotFound } from "./errors";
import { withRegistryLock } from "./lock";
import { REGISTRY_FILE } from "./registry";

/** Where the templates live, relative to the repository root. */
export const TEMPLATES_RELATIVE = path.join("data", "templates");
/** What seeding has offered to this data folder already (dot-prefixed: never listed as a dataset). */
export const SEED_RECORD = ".templates-seeded.json";

export function templatesDir(root: string): string {
  return path.join(root, TEMPLATES_RELATIVE);
}

const seedRecordSchema = z.object({
  files: z.array(z.string()).default([]),
  entries: z.array(z.string()).default([]),
});
type SeedRecord = z.infer<typeof seedRecordSchema>;

const registrySchema = z.record(z.string(), z.unknown());

export interface SeedResult {
  /** Template files copied into the data folder. */
  copied: string[];
  /** Template entries added to the user's dataset_info.json. */
  registered: string[];
}

async function readJsonOr<T>(file: string, schema: z.ZodType<T>, missing: T, what: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (isNotFound(err)) return missing;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: ${what} is not valid JSON (${(err as Error).message}); fix or remove it`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new Error(`${file}: ${what} has an unexpected shape (${parsed.error.issues[0]?.message})`);
  return parsed.data;
}

/** Copies `from` to `to` unless `to` exists (COPYFILE_EXCL: an existing file is never replaced). */
async function copyIfMissing(from: string, to: string): Promise<boolean> {
  try {
    await copyFile(from, to, constants.COPYFILE_EXCL);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

/**
 * Brings `dataDir` up to date with `templates`: creates the folder, copies template files the
 * user does not have and adds template registry entries the user does not have, each at most once
 * per data folder. Writes nothing when there is nothing new, so a second call changes no byte.
 */
export async function seedDataDir(templates: string, dataDir: string): Promise<SeedResult> {
  await mkdir(dataDir, { recursive: true });
  return withRegistryLock(dataDir, async () => {
    const recordFile = path.join(dataDir, SEED_RECORD);
    const record: SeedRecord = await readJsonOr(recordFile, seedRecordSchema, { files: [], entries: [] }, "the seed record");
    const offeredFiles = new Set(record.files);
    const offeredEntries = new Set(record.entries);
    const result: SeedResult = { copied: [], registered: [] };

    const templateFiles = (await readdir(templates, { withFileTypes: true }))
      .filter((e) => e.isFile() && e.name !== REGISTRY_FILE && !e.name.startsWith("."))
      .map((e) => e.name)
      .sort();
    for (const name of templateFiles) {
      if (offeredFiles.has(name)) continue;
      if (await copyIfMissing(path.join(templates, name), path.join(dataDir, name))) result.copied.push(name);
      offeredFiles.add(name);
    }

    const templateRegistry = await readJsonOr(path.join(templates, REGISTRY_FILE), registrySchema, {}, "the template registry");
    const userFile = path.join(dataDir, REGISTRY_FILE);
    const userRegistry = await readJsonOr(userFile, registrySchema, {}, `the dataset registry (${REGISTRY_FILE})`);
    for (const [name, entry] of Object.entries(templateRegistry)) {
      if (offeredEntries.has(name)) continue;
      if (!Object.hasOwn(userRegistry, name)) {
        userRegistry[name] = entry;
        result.registered.push(name);
      }
      offeredEntries.add(name);
    }
    if (result.registered.length > 0) await writeFileAtomic(userFile, toJsonText(userRegistry));

    const next: SeedRecord = { files: [...offeredFiles].sort(), entries: [...offeredEntries].sort() };
    if (JSON.stringify(next) !== JSON.stringify({ files: [...record.files].sort(), entries: [...record.entries].sort() })) {
      await writeFileAtomic(recordFile, toJsonText(next));
    }
    return result;
  });
}
