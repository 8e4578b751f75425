// Importing a JSON/JSONL/CSV file as a new dataset, in two steps: the upload is parsed and kept
// in a staging folder (`<data>/.imports/`, never registered), the user maps its columns, then
// commit converts every record with that mapping, validates it, writes `<name>.json` and
// registers it. Nothing is written to the data folder proper until every record is valid.
import { randomUUID } from "node:crypto";
import { mkdir, readdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { importCommitSchema, type ImportMapping } from "../schemas/dataset";
import { toJsonText, writeFileAtomic } from "./atomic";
import { DatasetError, formErrorFromZod, isNotFound } from "./errors";
import { withRegistryLock } from "./lock";
import { applyMapping, sourceColumns } from "./mapping";
import { loadRawRecords } from "./records";
import { readRegistry, registerDatasetLocked } from "./registry";
import { resolveInside } from "./roots";

/** Largest file the import accepts (checked by the upload route before the body is read in full). */
export const IMPORT_MAX_BYTES = 20 * 1024 * 1024;
export const IMPORT_DIR = ".imports";
// Uploads nobody committed are swept after a day, so the staging folder cannot grow without end.
const STALE_MS = 24 * 3600 * 1000;
const SAMPLE_SIZE = 5;

export interface StagedUpload {
  uploadId: string;
  fileName: string;
  count: number;
  columns: string[];
  /** The first records as stored, for the mapping preview in the browser. */
  sample: unknown[];
}

/** Keeps an uploaded file in the staging folder and reads it; a file that cannot be read is refused and removed. */
export async function stageUpload(dataDir: string, fileName: string, bytes: Uint8Array): Promise<StagedUpload> {
  const ext = path.extname(fileName).toLowerCase();
  if (![".json", ".jsonl", ".csv"].includes(ext)) {
    throw new DatasetError("unsupported", "file", `${fileName}: only .json, .jsonl and .csv files can be imported`);
  }
  if (bytes.byteLength > IMPORT_MAX_BYTES) throw tooLarge(bytes.byteLength);
  const dir = await resolveInside(dataDir, IMPORT_DIR, "file");
  await mkdir(dir, { recursive: true });
  await sweep(dir);
  const uploadId = `${randomUUID()}${ext}`;
  const file = path.join(dir, uploadId);
  await writeFile(file, bytes, { flag: "wx" });
  try {
    const raw = await loadRawRecords(file, "file");
    if (raw.length === 0) throw new DatasetError("invalid_file", "file", `${fileName}: has no records`);
    return { uploadId, fileName, count: raw.length, columns: sourceColumns(raw), sample: raw.slice(0, SAMPLE_SIZE) };
  } catch (err) {
    await rm(file, { force: true });
    // The staged name means nothing to the user; name their file instead.
    if (err instanceof DatasetError) throw new DatasetError(err.code, "file", err.message.replaceAll(uploadId, fileName));
    throw err;
  }
}

export function tooLarge(bytes: number): DatasetError {
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
  return new DatasetError("invalid_input", "file", `the file is ${mb(bytes)}; the import limit is ${mb(IMPORT_MAX_BYTES)}`);
}

export interface ImportResult {
  name: string;
  fileName: string;
  records: number;
}

/** Maps, validates and registers a staged upload. Errors name the form field (and record) at fault. */
export async function commitImport(dataDir: string, input: unknown): Promise<ImportResult> {
  const parsed = importCommitSchema.safeParse(input);
  if (!parsed.success) throw fieldError(parsed.error);
  const { uploadId, name, mapping } = parsed.data;
  const staged = await resolveInside(dataDir, path.join(IMPORT_DIR, uploadId), "file");
  let raw: unknown[];
  try {
    raw = await loadRawRecords(staged, "file");
  } catch (err) {
    if (err instanceof DatasetError && err.code === "not_found") {
      throw new DatasetError("not_found", "file", "the uploaded file is gone (uploads are kept for a day); upload it again");
    }
    throw err;
  }
  const mapped = applyMapping(raw, mapping, name);
  if (!mapped.ok) {
    throw new DatasetError("invalid_record", mapped.field, mapped.message, mapped.recordIndex === undefined ? {} : { recordIndex: mapped.recordIndex });
  }
  const fileName = `${name}.json`;
  return withRegistryLock(dataDir, async () => {
    const registry = await readRegistry(dataDir);
    if (Object.hasOwn(registry.raw, name)) throw new DatasetError("already_exists", "name", `a dataset named "${name}" already exists`);
    const target = await resolveInside(dataDir, fileName, "name");
    if (await exists(target)) throw new DatasetError("already_exists", "name", `${fileName} already exists in the data directory`);
    await writeFileAtomic(target, toJsonText(mapped.records));
    try {
      await registerDatasetLocked(dataDir, name, fileName, mapped.entry, {});
    } catch (err) {
      await rm(target, { force: true }); // an orphan file would block the next attempt
      throw err;
    }
    await rm(staged, { force: true });
    return { name, fileName, records: mapped.records.length };
  });
}

/** zod issues of the commit form → the field that caused them ("mapping.output" → "output"). */
function fieldError(error: import("zod").ZodError): DatasetError {
  const issue = error.issues[0];
  const pathKeys = issue?.path ?? [];
  const field = String(pathKeys[0] === "mapping" ? (pathKeys[1] ?? "format") : (pathKeys[0] ?? "name"));
  if (field === "uploadId") return new DatasetError("invalid_input", "file", issue?.message ?? "upload the file again");
  return pathKeys[0] === "mapping"
    ? new DatasetError("invalid_input", field, issue?.message ?? "invalid")
    : formErrorFromZod(error, "name");
}

export type { ImportMapping };

async function sweep(dir: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(dir)) {
    const file = path.join(dir, name);
    try {
      if (now - (await stat(file)).mtimeMs > STALE_MS) await rm(file, { force: true });
    } catch {
      /* removed by a concurrent sweep */
    }
  }
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
