// Editing a dataset file record by record: update, add, delete. Each change re-reads the file
// under the data folder's lock, checks the record is still the one the user opened (so a change
// made elsewhere in the meantime is never silently overwritten), validates the new record with
// the registry's own rules (an error names the record and the key, for the editor to mark), and
// rewrites the file atomically in its own format (JSON, JSONL or CSV).
import path from "node:path";
import { recordAddSchema, recordDeleteSchema, recordEditSchema, type RecordFields } from "../schemas/dataset";
import { toJsonText, writeFileAtomic } from "./atomic";
import { toCsv } from "./csv";
import { DatasetError, isDatasetError } from "./errors";
import { parseAlpaca, parseSharegpt, resolveLayout, type Layout } from "./formats";
import { withRegistryLock } from "./lock";
import { loadRawRecords } from "./records";
import { readRegistry } from "./registry";
import { resolveInside } from "./roots";
import { conversationLayout } from "./turns";
import { parseKto, parsePair, parseText } from "./stage-records";

/** What the editor shows for one record: every top-level key as text, JSON for non-strings. */
export interface EditableRecord {
  index: number;
  /** The record as stored, as JSON text: sent back with a save to detect concurrent changes. */
  expected: string;
  fields: { key: string; value: string; json: boolean }[];
}

export function toEditable(record: unknown, index: number): EditableRecord {
  const object = typeof record === "object" && record !== null && !Array.isArray(record) ? (record as Record<string, unknown>) : {};
  return {
    index,
    expected: JSON.stringify(record),
    fields: Object.entries(object).map(([key, value]) =>
      typeof value === "string" ? { key, value, json: false } : { key, value: JSON.stringify(value, null, 2), json: true },
    ),
  };
}

/** An empty record in the dataset's layout, for "Add record". */
export function blankRecord(layout: Layout): Record<string, unknown> {
  const { columns, tags } = layout;
  if (layout.kind === "pretraining") return { [columns.text as string]: "" };
  const extra: Record<string, unknown> = {};
  if (layout.kind === "kto") extra[columns.kto_tag as string] = true;
  if (layout.formatting === "alpaca") {
    const out: Record<string, unknown> = {};
    const keys = layout.kind === "preference" ? (["prompt", "query", "system", "chosen", "rejected"] as const) : (["prompt", "query", "response", "system"] as const);
    for (const key of keys) if (columns[key] !== null) out[columns[key]] = "";
    return { ...out, ...extra };
  }
  const role = tags.role_tag as string;
  const content = tags.content_tag as string;
  if (layout.kind === "preference") {
    // sharegpt pairs: the conversation ends with the user; each answer is one assistant message.
    const answer = () => ({ [role]: tags.assistant_tag, [content]: "" });
    return { [columns.messages as string]: [{ [role]: tags.user_tag, [content]: "" }], [columns.chosen as string]: answer(), [columns.rejected as string]: answer() };
  }
  return {
    [columns.messages as string]: [
      { [role]: tags.user_tag, [content]: "" },
      { [role]: tags.assistant_tag, [content]: "" },
    ],
    ...extra,
  };
}

export interface Target {
  file: string;
  layout: Layout;
  raw: unknown[];
}

export async function open(dataDir: string, dataset: string): Promise<Target> {
  const registry = await readRegistry(dataDir);
  const entry = registry.entries.get(dataset);
  if (entry === undefined) throw new DatasetError("not_found", "dataset", `dataset "${dataset}" is not registered in dataset_info.json`);
  const ctx = { name: dataset, field: "dataset" };
  const layout = resolveLayout(entry, ctx);
  const file = await resolveInside(dataDir, entry.file_name, "dataset");
  return { file, layout, raw: await loadRawRecords(file, "dataset", dataset) };
}

/** Editor text → a record, keeping the original key order; a JSON key that does not parse is refused at that key. */
function fromFields(input: RecordFields, index: number, csv: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input.fields)) {
    if (input.jsonKeys.includes(key) && !csv) {
      try {
        out[key] = JSON.parse(value);
      } catch (err) {
        throw new DatasetError("invalid_record", key, `record ${index}: ${key}: not valid JSON (${(err as Error).message})`, { recordIndex: index, column: key });
      }
    } else {
      out[key] = value;
    }
  }
  return out;
}

/**
 * The registry's validation for one record, plus the trainer's own rule that a prompt cannot be
 * empty (data.py alpaca_to_messages). The error's field is the record key to mark.
 */
export function checkRecord(record: unknown, index: number, layout: Layout, dataset: string): void {
  const ctx = { name: dataset, field: "record" };
  try {
    if (layout.kind === "preference") parsePair(record, index, layout, ctx);
    else if (layout.kind === "kto") parseKto(record, index, layout, ctx);
    else if (layout.kind === "pretraining") parseText(record, index, layout, ctx);
    else if (layout.formatting === "alpaca") {
      const r = parseAlpaca(record, index, layout, ctx);
      if (r.instruction.trim() === "" && r.input.trim() === "") {
        const key = layout.columns.prompt ?? layout.columns.query ?? "instruction";
        throw new DatasetError("invalid_record", key, `record ${index}: ${key}: must not be empty (the prompt would be blank)`, { recordIndex: index, column: key });
      }
    } else {
      parseSharegpt(record, index, layout, ctx);
    }
  } catch (err) {
    if (!isDatasetError(err) || err.code !== "invalid_record") throw err;
    const field = err.column ?? "record";
    throw new DatasetError("invalid_record", field, err.message.replace(/^dataset "[^"]*": /, ""), { recordIndex: index, column: field });
  }
}

export async function save(target: Target, records: unknown[]): Promise<void> {
  const ext = path.extname(target.file).toLowerCase();
  let text: string;
  if (ext === ".jsonl") text = records.map((r) => JSON.stringify(r)).join("\n") + "\n";
  else if (ext === ".csv") {
    const header: string[] = [];
    for (const r of records) for (const k of Object.keys(r as object)) if (!header.includes(k)) header.push(k);
    text = toCsv(header, records as Record<string, string>[]);
  } else text = toJsonText(records);
  await writeFileAtomic(target.file, text);
}

export function checkUnchanged(target: Target, index: number, expected: string): void {
  if (index >= target.raw.length) {
    throw new DatasetError("not_found", "record", `record ${index} no longer exists (the file has ${target.raw.length} records); reload the page`);
  }
  if (JSON.stringify(target.raw[index]) !== expected) {
    throw new DatasetError("already_exists", "record", `record ${index} was changed elsewhere since you opened it; reload the page to see the new version`);
  }
}

export async function updateRecord(dataDir: string, input: unknown): Promise<{ index: number }> {
  const parsed = recordEditSchema.safeParse(input);
  if (!parsed.success) throw new DatasetError("invalid_input", "record", parsed.error.issues[0]?.message ?? "invalid");
  const { dataset, index, expected } = parsed.data;
  return withRegistryLock(dataDir, async () => {
    const target = await open(dataDir, dataset);
    checkUnchanged(target, index, expected);
    const record = fromFields(parsed.data, index, target.file.endsWith(".csv"));
    checkRecord(record, index, target.layout, dataset);
    const records = [...target.raw];
    records[index] = record;
    await save(target, records);
    return { index };
  });
}

export async function addRecord(dataDir: string, input: unknown): Promise<{ index: number }> {
  const parsed = recordAddSchema.safeParse(input);
  if (!parsed.success) throw new DatasetError("invalid_input", "record", parsed.error.issues[0]?.message ?? "invalid");
  return withRegistryLock(dataDir, async () => {
    const target = await open(dataDir, parsed.data.dataset);
    const index = target.raw.length;
    const record = fromFields(parsed.data, index, target.file.endsWith(".csv"));
    checkRecord(record, index, target.layout, parsed.data.dataset);
    await save(target, [...target.raw, record]);
    return { index };
  });
}

export async function deleteRecord(dataDir: string, input: unknown): Promise<{ remaining: number }> {
  const parsed = recordDeleteSchema.safeParse(input);
  if (!parsed.success) throw new DatasetError("invalid_input", "record", parsed.error.issues[0]?.message ?? "invalid");
  const { dataset, index, expected } = parsed.data;
  return withRegistryLock(dataDir, async () => {
    const target = await open(dataDir, dataset);
    checkUnchanged(target, index, expected);
    // The trainer refuses a dataset with no records; keep at least one.
    if (target.raw.length === 1) throw new DatasetError("invalid_input", "record", "a dataset needs at least one record (the trainer refuses an empty one)");
    const records = target.raw.filter((_, i) => i !== index);
    await save(target, records);
    return { remaining: records.length };
  });
}

/** Where a preference record keeps its answers, for the side-by-side editor. */
export interface AnswerLayout {
  chosen: string;
  rejected: string;
  /** sharegpt: each answer is a message object; the editor edits its content under this key. */
  contentKey: string | null;
}

export function answerLayout(layout: Layout): AnswerLayout | null {
  if (layout.kind !== "preference") return null;
  return {
    chosen: layout.columns.chosen as string,
    rejected: layout.columns.rejected as string,
    contentKey: layout.formatting === "sharegpt" ? layout.tags.content_tag : null,
  };
}

/** One page of raw records for the editor, plus the layout's blank record for "Add". */
export async function readPage(dataDir: string, dataset: string, page: number, pageSize: number) {
  const target = await open(dataDir, dataset);
  const pages = Math.max(1, Math.ceil(target.raw.length / pageSize));
  const current = Math.min(Math.max(1, page), pages);
  const start = (current - 1) * pageSize;
  return {
    total: target.raw.length,
    page: current,
    pages,
    pageSize,
    format: target.layout.formatting,
    kind: target.layout.kind,
    answers: answerLayout(target.layout),
    /** KTO datasets: the desirable/undesirable column, edited as a choice. */
    ktoTag: target.layout.kind === "kto" ? target.layout.columns.kto_tag : null,
    csv: target.file.endsWith(".csv"),
    /** For the turn editor: the conversation layout, or null (alpaca, or CSV cells of JSON text). */
    conversation: target.file.toLowerCase().endsWith(".csv") || target.layout.kind !== "sft" ? null : conversationLayout(target.layout),
    rows: target.raw.slice(start, start + pageSize).map((r, k) => toEditable(r, start + k)),
    blank: toEditable(blankRecord(target.layout), target.raw.length),
  };
}
