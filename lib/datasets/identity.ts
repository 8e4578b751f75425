// Identity fill: turns a template dataset with {{name}}/{{author}} placeholders (like
// LLaMA-Factory's identity.json) into a concrete copy that teaches the model who it is and who
// made it, registered next to the template so the Train form can pick it.
import { rm, stat } from "node:fs/promises";
import {
  identityFillFormSchema,
  PLACEHOLDERS,
  REMOTE_SOURCE_KEYS,
  type DatasetEntry,
  type IdentityFillInput,
} from "../schemas/dataset";
import { toJsonText, writeFileAtomic } from "./atomic";
import { DatasetError, formErrorFromZod, isDatasetError, isNotFound } from "./errors";
import { withRegistryLock } from "./lock";
import { hasPlaceholders } from "./records";
import { loadDataset, readRegistry, registerDatasetLocked } from "./registry";
import { resolveLayout, validateRecords } from "./formats";
import { resolveInside } from "./roots";

export interface FillResult {
  name: string;
  fileName: string;
  records: number;
}

// Entry fields that describe the source file itself, not its layout; copying them would make
// LLaMA-Factory load the hub source (which wins over file_name) or check the wrong checksum.
const FILE_SPECIFIC = new Set<string>(["file_name", "file_sha1", ...REMOTE_SOURCE_KEYS]);

export async function fillIdentity(dataDir: string, input: IdentityFillInput): Promise<FillResult> {
  const form = identityFillFormSchema.safeParse(input);
  if (!form.success) throw formErrorFromZod(form.error, "name");
  const { sourceName, name, author, newName } = form.data;
  const fileName = `${newName}.json`;

  return withRegistryLock(dataDir, async () => {
    // Validates every record first: a template with a broken record is reported, not copied.
    const source = await loadDataset(dataDir, sourceName, "sourceName");
    if (!hasPlaceholders(source.raw)) {
      throw new DatasetError("invalid_input", "sourceName", `dataset "${sourceName}" has no {{name}} or {{author}} placeholders to fill`);
    }

    const registry = await readRegistry(dataDir);
    if (Object.hasOwn(registry.raw, newName)) {
      throw new DatasetError("already_exists", "newName", `a dataset named "${newName}" already exists`);
    }
    const target = await resolveInside(dataDir, fileName, "newName");
    // An unregistered file of that name may be someone's work in progress: never clobber it.
    if (await exists(target)) {
      throw new DatasetError("already_exists", "newName", `${fileName} already exists in the data directory`);
    }

    // Raw records, not the validated copies: the file keeps its own column names and any extra
    // fields, so the copied `columns` mapping still matches it.
    const filled = fillValue(source.raw, name, author) as unknown[];
    refuseUntrainable(filled, source.entry, newName);
    await writeFileAtomic(target, toJsonText(filled));
    try {
      await registerDatasetLocked(dataDir, newName, fileName, layoutOf(source.entry), { after: sourceName });
    } catch (err) {
      // Without its registry entry the file is an orphan that would block the next attempt.
      await rm(target, { force: true });
      throw err;
    }
    return { name: newName, fileName, records: filled.length };
  });
}

/**
 * The filled records under the dataset's own rules: a name can make a record untrainable, e.g. a
 * preference pair whose chosen answer, filled, equals its rejected one ("ChatGPT" by "OpenAI").
 */
function refuseUntrainable(filled: unknown[], entry: DatasetEntry, newName: string): void {
  const ctx = { name: newName, field: "name" };
  try {
    validateRecords(filled, resolveLayout(entry, ctx), ctx);
  } catch (err) {
    if (!isDatasetError(err)) throw err;
    const why = err.message.includes("must differ from the chosen answer") ? "the same answer as its rejected one" : err.message;
    throw new DatasetError("invalid_input", "name", `with this model name and author, record ${err.recordIndex ?? "?"} would not train: its chosen answer becomes ${why}`);
  }
}

/** Replaces the placeholders in every string (values only, never keys) of a JSON value. */
export function fillValue(value: unknown, name: string, author: string): unknown {
  if (typeof value === "string") {
    // Replacer functions, not strings: "$&" or "$1" in a name must come out literally.
    return value.replaceAll(PLACEHOLDERS.name, () => name).replaceAll(PLACEHOLDERS.author, () => author);
  }
  if (Array.isArray(value)) return value.map((item) => fillValue(item, name, author));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, fillValue(item, name, author)]));
  }
  return value;
}

/**
 * A suggested newName for the form, e.g. ("identity", "GreatBot") → "identity_greatbot". Names
 * with no ASCII letters or digits (e.g. Chinese) fall back to "<source>_custom".
 */
export function suggestDatasetName(sourceName: string, modelName: string): string {
  const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
  const base = slug(sourceName) || "dataset";
  const suffix = slug(modelName) || "custom";
  return `${base}_${suffix}`.slice(0, 64).replace(/_+$/, "");
}

function layoutOf(entry: DatasetEntry): Omit<Partial<DatasetEntry>, "file_name"> {
  return Object.fromEntries(Object.entries(entry).filter(([key]) => !FILE_SPECIFIC.has(key)));
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
