// Reading a dataset file into records. Kept apart from the registry so the same checks serve the
// list page (counts), the preview (readDataset) and identity fill (which rewrites raw records).
import { readFile } from "node:fs/promises";
import path from "node:path";
import { alpacaRecordSchema, PLACEHOLDERS, type AlpacaRecord } from "../schemas/dataset";
import { DatasetError, isNotFound } from "./errors";

// LLaMA-Factory also reads csv/parquet/arrow/txt and whole folders; Tuneboard only reads and
// writes JSON, which is what its own datasets are, and says so rather than guessing.
const READABLE = new Set([".json", ".jsonl"]);

/** The file's records exactly as stored (any shape), or a DatasetError naming what is wrong. */
export async function loadRawRecords(file: string, field: string): Promise<unknown[]> {
  const ext = path.extname(file).toLowerCase();
  if (!READABLE.has(ext)) {
    throw new DatasetError("unsupported", field, `${path.basename(file)}: only .json and .jsonl files can be read`);
  }
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (isNotFound(err)) throw new DatasetError("not_found", field, `${path.basename(file)} does not exist`);
    if ((err as { code?: unknown }).code === "EISDIR") {
      throw new DatasetError("unsupported", field, `${path.basename(file)} is a folder; folder datasets are not supported`);
    }
    throw err;
  }
  return ext === ".jsonl" ? parseJsonLines(text, file, field) : parseJsonArray(text, file, field);
}

function parseJsonArray(text: string, file: string, field: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DatasetError("invalid_file", field, `${path.basename(file)}: not valid JSON (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (!Array.isArray(value)) {
    throw new DatasetError("invalid_file", field, `${path.basename(file)}: must contain a JSON list of records`);
  }
  return value;
}

function parseJsonLines(text: string, file: string, field: string): unknown[] {
  const records: unknown[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (line.trim() === "") continue;
    try {
      records.push(JSON.parse(line));
    } catch (err) {
      // Line numbers (1-based) here, since that is what an editor shows for a JSONL file.
      throw new DatasetError("invalid_file", field, `${path.basename(file)}: line ${i + 1}: not valid JSON`, {
        cause: err,
      });
    }
  }
  return records;
}

// LLaMA-Factory's alpaca defaults: prompt/query/response have default column names, while
// system and history are only read when `columns` maps them. Mirroring that means the preview
// shows what training will actually see.
const ALPACA_COLUMNS = [
  ["instruction", "prompt", "instruction"],
  ["input", "query", "input"],
  ["output", "response", "output"],
  ["system", "system", undefined],
  ["history", "history", undefined],
] as const;

/**
 * Validates raw records as alpaca, honouring the entry's `columns` mapping. The error names the
 * 0-based record index (as in `records[12]`) and the column as it is spelled in the file.
 */
export function validateAlpaca(raw: readonly unknown[], columns: Readonly<Record<string, string>> | undefined, field: string): AlpacaRecord[] {
  const fileColumnOf = new Map<string, string>();
  for (const [canonical, key, fallback] of ALPACA_COLUMNS) {
    const column = columns?.[key] ?? fallback;
    if (column !== undefined) fileColumnOf.set(canonical, column);
  }

  return raw.map((record, index) => {
    const result = alpacaRecordSchema.safeParse(pickColumns(record, fileColumnOf));
    if (result.success) return result.data;
    const issue = result.error.issues[0];
    const [head, ...rest] = issue?.path ?? [];
    const where = head === undefined ? "" : `${[fileColumnOf.get(String(head)) ?? String(head), ...rest.map(String)].join(".")}: `;
    throw new DatasetError("invalid_record", field, `record ${index}: ${where}${issue?.message ?? "invalid"}`, {
      recordIndex: index,
      cause: result.error,
    });
  });
}

// Renames file columns to canonical ones. JSON null counts as absent: HF datasets fills missing
// keys with null, so LLaMA-Factory-exported files often carry "input": null.
function pickColumns(record: unknown, fileColumnOf: ReadonlyMap<string, string>): unknown {
  if (typeof record !== "object" || record === null || Array.isArray(record)) return record;
  const source = record as Record<string, unknown>;
  const picked: Record<string, unknown> = {};
  for (const [canonical, column] of fileColumnOf) {
    if (Object.hasOwn(source, column) && source[column] !== null) picked[canonical] = source[column];
  }
  return picked;
}

/** Whether any string anywhere in the records still holds {{name}} or {{author}}. */
export function hasPlaceholders(value: unknown): boolean {
  if (typeof value === "string") return value.includes(PLACEHOLDERS.name) || value.includes(PLACEHOLDERS.author);
  if (Array.isArray(value)) return value.some(hasPlaceholders);
  if (typeof value === "object" && value !== null) return Object.values(value).some(hasPlaceholders);
  return false;
}
