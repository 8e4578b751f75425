// Reading a dataset file into raw records. Kept apart from the registry so the same reader serves
// the list page (counts), the preview and identity fill (which rewrites raw records); the
// per-format checks live in formats.ts.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { PLACEHOLDERS } from "../schemas/dataset";
import { csvRecords, CsvSyntaxError, parseCsv } from "./csv";
import { DatasetError, isNotFound } from "./errors";

// LLaMA-Factory also reads parquet/arrow/txt and whole folders; the Tuneboard trainer reads these
// three, and anything else is refused by name rather than guessed at.
export const READABLE_EXTENSIONS = [".json", ".jsonl", ".csv"] as const;

/**
 * The file's records exactly as stored (any shape; CSV rows become objects of strings keyed by
 * the header), or a DatasetError naming what is wrong. `dataset`, when given, prefixes messages
 * as `dataset "<name>": ` so an error on a multi-dataset form says which one.
 */
export async function loadRawRecords(file: string, field: string, dataset?: string): Promise<unknown[]> {
  const base = `${dataset === undefined ? "" : `dataset "${dataset}": `}${path.basename(file)}`;
  const ext = path.extname(file).toLowerCase();
  if (!(READABLE_EXTENSIONS as readonly string[]).includes(ext)) {
    throw new DatasetError("unsupported", field, `${base}: only .json, .jsonl and .csv files can be read`);
  }
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (isNotFound(err)) throw new DatasetError("not_found", field, `${base} does not exist`);
    if ((err as { code?: unknown }).code === "EISDIR") {
      throw new DatasetError("unsupported", field, `${base} is a folder; folder datasets are not supported`);
    }
    throw err;
  }
  // A BOM (common in files saved by Excel or Notepad) is not part of the data.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (ext === ".csv") return parseCsvRecords(text, base, field);
  return ext === ".jsonl" ? parseJsonLines(text, base, field) : parseJsonArray(text, base, field);
}

function parseJsonArray(text: string, base: string, field: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DatasetError("invalid_file", field, `${base}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (!Array.isArray(value)) throw new DatasetError("invalid_file", field, `${base}: must contain a JSON list of records`);
  return value;
}

function parseJsonLines(text: string, base: string, field: string): unknown[] {
  const records: unknown[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (line.trim() === "") continue;
    try {
      records.push(JSON.parse(line));
    } catch (err) {
      // Line numbers (1-based) here, since that is what an editor shows for a JSONL file; the
      // record index is the count of records read so far.
      throw new DatasetError("invalid_file", field, `${base}: line ${i + 1} (record ${records.length}): not valid JSON`, {
        recordIndex: records.length,
        cause: err,
      });
    }
  }
  return records;
}

function parseCsvRecords(text: string, base: string, field: string): Record<string, string>[] {
  let rows;
  try {
    rows = parseCsv(text);
  } catch (err) {
    if (err instanceof CsvSyntaxError) throw new DatasetError("invalid_file", field, `${base}: ${err.message}`, { cause: err });
    throw err;
  }
  const result = csvRecords(rows);
  if (!result.ok) {
    throw new DatasetError("invalid_file", field, `${base}: line ${result.line}: ${result.message}`, {
      ...(result.recordIndex === undefined ? {} : { recordIndex: result.recordIndex }),
    });
  }
  return result.records;
}

/** Whether any string anywhere in the records still holds {{name}} or {{author}}. */
export function hasPlaceholders(value: unknown): boolean {
  if (typeof value === "string") return value.includes(PLACEHOLDERS.name) || value.includes(PLACEHOLDERS.author);
  if (Array.isArray(value)) return value.some(hasPlaceholders);
  if (typeof value === "object" && value !== null) return Object.values(value).some(hasPlaceholders);
  return false;
}
