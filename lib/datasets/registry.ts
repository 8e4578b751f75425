// dataset_info.json: LLaMA-Factory's list of datasets. Tuneboard reads it to list datasets and
// rewrites it to register new ones, keeping everything it does not understand byte-for-byte in
// meaning, so the same data/ folder keeps working with llamafactory-cli.
import { readFile, stat } from "node:fs/promises";
import {
  datasetEntrySchema,
  datasetNameSchema,
  REMOTE_SOURCE_KEYS,
  registryFileSchema,
  type AlpacaRecord,
  type Conversation,
  type DatasetEntry,
  type DatasetKind,
  type Formatting,
  type RegistryFile,
} from "../schemas/dataset";
import { toJsonText, writeFileAtomic } from "./atomic";
import { DatasetError, isDatasetError, isNotFound } from "./errors";
import { withRegistryLock } from "./lock";
import { resolveLayout, validateRecords, type ValidatedRecords } from "./formats";
import { datasetKind } from "./kind";
import { hasPlaceholders, loadRawRecords } from "./records";
import { resolveInside } from "./roots";

export const REGISTRY_FILE = "dataset_info.json";

export interface Registry {
  /** Local datasets (those with a file_name), validated, in file order. */
  entries: Map<string, DatasetEntry>;
  /** The file as parsed, untouched: a rewrite starts from this so no entry or field is lost. */
  raw: RegistryFile;
}

export interface DatasetSummary {
  name: string;
  fileName: string;
  formatting: Formatting;
  /** What it trains (kind.ts): SFT conversations, preference pairs, KTO answers or pre-training text. */
  kind: DatasetKind;
  /** Number of records, or null when the file could not be read (see `error`). */
  records: number | null;
  sizeBytes: number | null;
  /** True while {{name}}/{{author}} remain, i.e. the dataset is a template for identity fill. */
  hasPlaceholders: boolean;
  /** Why the file is unreadable or invalid; the list still shows the dataset so it can be fixed. */
  error?: string;
}

export async function readRegistry(dataDir: string): Promise<Registry> {
  const file = await resolveInside(dataDir, REGISTRY_FILE, "dataDir");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    // A data folder without a registry simply has no datasets yet; registerDataset creates it.
    if (isNotFound(err)) return { entries: new Map(), raw: {} };
    throw err;
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DatasetError("invalid_registry", "dataDir", `${REGISTRY_FILE}: not valid JSON (${(err as Error).message})`, {
      cause: err,
    });
  }
  const shape = registryFileSchema.safeParse(json);
  if (!shape.success) {
    const issue = shape.error.issues[0];
    const where = issue && issue.path.length > 0 ? `entry "${String(issue.path[0])}": ` : "";
    throw new DatasetError("invalid_registry", "dataDir", `${REGISTRY_FILE}: ${where}${issue?.message ?? "invalid"}`, {
      cause: shape.error,
    });
  }
  // Keep JSON.parse's object rather than zod's copy: it is the file as written (key order,
  // unknown fields), which is what a rewrite must preserve.
  const raw = json as RegistryFile;

  const entries = new Map<string, DatasetEntry>();
  for (const [name, value] of Object.entries(raw)) {
    if (REMOTE_SOURCE_KEYS.some((key) => Object.hasOwn(value, key))) continue; // hub dataset: nothing local to read
    const entry = datasetEntrySchema.safeParse(value);
    if (!entry.success) {
      throw new DatasetError(
        "invalid_registry",
        "dataDir",
        `${REGISTRY_FILE}: entry "${name}": ${entry.error.issues[0]?.message ?? "invalid"}`,
        { cause: entry.error },
      );
    }
    entries.set(name, entry.data);
  }
  return { entries, raw };
}

export async function listDatasets(dataDir: string): Promise<DatasetSummary[]> {
  const { entries } = await readRegistry(dataDir);
  return Promise.all([...entries].map(([name, entry]) => summarise(dataDir, name, entry)));
}

async function summarise(dataDir: string, name: string, entry: DatasetEntry): Promise<DatasetSummary> {
  const summary: DatasetSummary = {
    name,
    fileName: entry.file_name,
    formatting: entry.formatting ?? "alpaca",
    kind: datasetKind(entry),
    records: null,
    sizeBytes: null,
    hasPlaceholders: false,
  };
  try {
    const ctx = { name, field: name };
    const layout = resolveLayout(entry, ctx);
    const file = await resolveInside(dataDir, entry.file_name, name);
    const raw = await loadRawRecords(file, name, name);
    summary.sizeBytes = (await stat(file)).size;
    summary.records = raw.length;
    summary.hasPlaceholders = hasPlaceholders(raw);
    // Validate here too, so a broken dataset is flagged on the list rather than at training time.
    validateRecords(raw, layout, ctx);
  } catch (err) {
    // One broken dataset must not hide the others; anything that is not ours is a real fault.
    if (!isDatasetError(err)) throw err;
    summary.error = err.message;
  }
  return summary;
}

/** A registered local dataset: its file's raw records, and the same records validated. */
export interface LoadedDataset {
  entry: DatasetEntry;
  file: string;
  /** The records as stored (CSV rows as objects of strings), for rewriting (identity fill). */
  raw: unknown[];
  /** The entry's formatting ("alpaca" when dataset_info.json does not say). */
  format: Formatting;
  /** Every record normalised to {system?, tools?, messages}, whatever the format. */
  records: Conversation[];
  /** The canonical alpaca records (instruction/input/output/...) of an alpaca sft dataset, else null. */
  alpaca: AlpacaRecord[] | null;
  kind: DatasetKind;
  pairs: ValidatedRecords["pairs"];
  kto: ValidatedRecords["kto"];
}

/**
 * Loads a dataset of any supported format and file type by name, validating every record;
 * `field` is the form field a failure is reported on. Messages start with `dataset "<name>": `.
 */
export async function loadDataset(dataDir: string, name: string, field = "name"): Promise<LoadedDataset> {
  const registry = await readRegistry(dataDir);
  const entry = registry.entries.get(name);
  if (entry === undefined) {
    const why = Object.hasOwn(registry.raw, name) ? "is a hub dataset, not a local file" : "is not registered in dataset_info.json";
    throw new DatasetError("not_found", field, `dataset "${name}" ${why}`);
  }
  const ctx = { name, field };
  const layout = resolveLayout(entry, ctx);
  const file = await resolveInside(dataDir, entry.file_name, field);
  const raw = await loadRawRecords(file, field, name);
  const { records, alpaca, pairs, kto } = validateRecords(raw, layout, ctx);
  return { entry, file, raw, format: layout.formatting, records, alpaca, kind: layout.kind, pairs, kto };
}

/** The validated records of an alpaca dataset, under canonical column names. */
export async function readDataset(dataDir: string, name: string): Promise<AlpacaRecord[]> {
  const loaded = await loadDataset(dataDir, name);
  if (loaded.alpaca === null) {
    const what = loaded.kind === "sft" ? loaded.format : `a ${loaded.kind} dataset`;
    throw new DatasetError("unsupported", "name", `dataset "${name}" is ${what}; use loadDataset(...).records for its conversations`);
  }
  return loaded.alpaca;
}

export interface RegisterOptions {
  /** Replace an entry of the same name (in place) instead of refusing. */
  overwrite?: boolean;
  /** Insert the new entry right after this one, so related datasets sit together in the file. */
  after?: string;
}

/** Adds (or with overwrite, replaces) a registry entry for a file already inside dataDir. */
export async function registerDataset(
  dataDir: string,
  name: string,
  fileName: string,
  entry: Omit<Partial<DatasetEntry>, "file_name"> = {},
  options: RegisterOptions = {},
): Promise<DatasetEntry> {
  return withRegistryLock(dataDir, () => registerDatasetLocked(dataDir, name, fileName, entry, options));
}

/** registerDataset's body, for callers that already hold withRegistryLock (the lock is not re-entrant). */
export async function registerDatasetLocked(
  dataDir: string,
  name: string,
  fileName: string,
  entry: Omit<Partial<DatasetEntry>, "file_name">,
  options: RegisterOptions,
): Promise<DatasetEntry> {
  const parsedName = datasetNameSchema.safeParse(name);
  if (!parsedName.success) {
    throw new DatasetError("invalid_input", "name", `name: ${parsedName.error.issues[0]?.message ?? "invalid"}`);
  }
  const file = await resolveInside(dataDir, fileName, "fileName");
  try {
    await stat(file);
  } catch (err) {
    if (isNotFound(err)) throw new DatasetError("not_found", "fileName", `${fileName} does not exist in the data directory`);
    throw err;
  }
  // file_name first: it is what a person reading dataset_info.json looks for.
  const candidate: Record<string, unknown> = { file_name: fileName, ...entry };
  candidate.file_name = fileName;
  const checked = datasetEntrySchema.safeParse(candidate);
  if (!checked.success) {
    throw new DatasetError("invalid_input", "entry", `entry: ${checked.error.issues[0]?.message ?? "invalid"}`);
  }

  const { raw } = await readRegistry(dataDir);
  const exists = Object.hasOwn(raw, parsedName.data);
  if (exists && options.overwrite !== true) {
    throw new DatasetError("already_exists", "name", `a dataset named "${parsedName.data}" already exists`);
  }
  await writeFileAtomic(
    await resolveInside(dataDir, REGISTRY_FILE, "dataDir"),
    toJsonText(placeEntry(raw, parsedName.data, candidate, options.after)),
  );
  return checked.data;
}

// Object.fromEntries (not assignment) so that even a "__proto__" key from the file stays a key.
function placeEntry(raw: RegistryFile, name: string, entry: Record<string, unknown>, after: string | undefined): RegistryFile {
  const pairs = Object.entries(raw);
  const existing = pairs.findIndex(([key]) => key === name);
  if (existing >= 0) {
    pairs[existing] = [name, entry];
  } else {
    const anchor = after === undefined ? -1 : pairs.findIndex(([key]) => key === after);
    pairs.splice(anchor >= 0 ? anchor + 1 : pairs.length, 0, [name, entry]);
  }
  return Object.fromEntries(pairs);
}
