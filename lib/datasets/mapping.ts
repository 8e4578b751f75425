// The column-mapping step of an import: a file's own columns/keys → alpaca, sharegpt or OpenAI
// messages records (or preference pairs, KTO records, pre-training text), plus the dataset_info.json entry that describes them. Pure (no Node APIs): the
// import form runs it in the browser for the live preview, and the server runs the same code
// again before anything is written, so the preview is exactly what gets saved.
import { OPENAI_MESSAGES_LAYOUT, type DatasetEntry, type ImportMapping } from "../schemas/dataset";
import { DatasetError, isDatasetError } from "./errors";
import { resolveLayout, validateRecords } from "./formats";

export type MappedEntry = Omit<Partial<DatasetEntry>, "file_name">;

export type MapResult =
  | { ok: true; records: unknown[]; entry: MappedEntry }
  | {
      ok: false;
      /** The mapping field to mark ("instruction", "messages", ...), or "file" for the file as a whole. */
      field: string;
      recordIndex?: number;
      message: string;
    };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Every top-level key found in the first records (CSV: the header), in first-seen order. */
export function sourceColumns(records: readonly unknown[], limit = 200): string[] {
  const seen = new Set<string>();
  for (const record of records.slice(0, limit)) {
    if (isObject(record)) for (const key of Object.keys(record)) seen.add(key);
  }
  return [...seen];
}

/** A guess at the mapping from the column names, so a well-named file needs no clicks. */
export function guessMapping(columns: readonly string[]): ImportMapping {
  const find = (...names: string[]) => columns.find((c) => names.includes(c.toLowerCase())) ?? "";
  const prompt = () => find("instruction", "prompt", "question", "query", "input_text") || (columns[0] ?? "");
  const chosen = find("chosen", "preferred", "accepted");
  const rejected = find("rejected", "dispreferred");
  if (chosen !== "" && rejected !== "") {
    return { format: "preference", instruction: prompt(), input: find("input", "context"), chosen, rejected, system: find("system", "system_prompt") };
  }
  const ktoTag = find("kto_tag", "label", "desirable");
  const answer = find("output", "response", "answer", "completion");
  if (ktoTag !== "" && answer !== "") {
    return { format: "kto", instruction: prompt(), input: find("input", "context"), output: answer, ktoTag, system: find("system", "system_prompt") };
  }
  const text = find("text", "document", "content");
  if (text !== "" && columns.length === 1) return { format: "text", text };
  const messages = find("messages", "conversations", "conversation", "dialog", "chat");
  if (messages !== "" && find("messages") !== "") return { format: "openai", messages };
  if (messages !== "") {
    return { format: "sharegpt", messages, roleKey: "from", contentKey: "value", userTag: "human", assistantTag: "gpt", systemTag: "system" };
  }
  return {
    format: "alpaca",
    instruction: find("instruction", "prompt", "question", "query", "input_text") || (columns[0] ?? ""),
    input: find("input", "context"),
    output: find("output", "response", "answer", "completion", "target") || (columns[1] ?? ""),
    system: find("system", "system_prompt"),
    history: find("history"),
  };
}

class MapError extends Error {
  constructor(
    readonly field: string,
    readonly recordIndex: number,
    message: string,
  ) {
    super(`record ${recordIndex}: ${message}`);
  }
}

/** A cell as text: numbers and booleans are written out (CSV has no types); lists are refused. */
function text(record: Record<string, unknown>, column: string, field: string, index: number): string {
  const value = record[column];
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  throw new MapError(field, index, `column "${column}" holds ${Array.isArray(value) ? "a list" : "an object"}, not text`);
}

/** A list cell: a JSON list, or (CSV) text holding one. */
function list(record: Record<string, unknown>, column: string, field: string, index: number): unknown[] {
  let value = record[column];
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      throw new MapError(field, index, `column "${column}" is text but not a JSON list`);
    }
  }
  if (!Array.isArray(value)) throw new MapError(field, index, `column "${column}" must hold a list`);
  return value;
}

const TRUE_WORDS = ["true", "1", "yes"];
const FALSE_WORDS = ["false", "0", "no"];

/** KTO's flag as a JSON boolean (the trainer's type), from a boolean, 1/0 or the words true/false, yes/no. */
function flag(record: Record<string, unknown>, column: string, index: number): boolean {
  const value = record[column];
  if (typeof value === "boolean") return value;
  const word = typeof value === "string" || typeof value === "number" ? String(value).trim().toLowerCase() : "";
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  throw new MapError("ktoTag", index, `column "${column}" must be true or false (desirable or not), got ${JSON.stringify(value) ?? "nothing"}`);
}

function mapOne(record: unknown, index: number, m: ImportMapping): unknown {
  if (!isObject(record)) throw new MapError("file", index, "must be an object (a row with named columns)");
  if (m.format === "alpaca") {
    const out: Record<string, unknown> = {
      instruction: text(record, m.instruction, "instruction", index),
      input: m.input ? text(record, m.input, "input", index) : "",
      output: text(record, m.output, "output", index),
    };
    if (m.system) out.system = text(record, m.system, "system", index);
    // An empty history cell (common in CSV) means "no earlier turns".
    if (m.history) out.history = record[m.history] === "" || record[m.history] == null ? [] : list(record, m.history, "history", index);
    return out;
  }
  if (m.format === "preference") {
    const out: Record<string, unknown> = {
      instruction: text(record, m.instruction, "instruction", index),
      input: m.input ? text(record, m.input, "input", index) : "",
      chosen: text(record, m.chosen, "chosen", index),
      rejected: text(record, m.rejected, "rejected", index),
    };
    if (m.system) out.system = text(record, m.system, "system", index);
    return out;
  }
  if (m.format === "kto") {
    const out: Record<string, unknown> = {
      instruction: text(record, m.instruction, "instruction", index),
      input: m.input ? text(record, m.input, "input", index) : "",
      output: text(record, m.output, "output", index),
      kto_tag: flag(record, m.ktoTag, index),
    };
    if (m.system) out.system = text(record, m.system, "system", index);
    return out;
  }
  if (m.format === "text") return { text: text(record, m.text, "text", index) };
  const turns = list(record, m.messages, "messages", index);
  if (m.format === "openai") {
    return {
      messages: turns.map((turn, k) => {
        if (!isObject(turn)) throw new MapError("messages", index, `${m.messages}[${k}] must be an object with "role" and "content"`);
        return { role: turn.role, content: turn.content };
      }),
    };
  }
  // sharegpt: written with LLaMA-Factory's default keys and tags, whatever the source used.
  const tagOf = new Map<unknown, string>([
    [m.userTag, "human"],
    [m.assistantTag, "gpt"],
  ]);
  if (m.systemTag) tagOf.set(m.systemTag, "system");
  return {
    conversations: turns.map((turn, k) => {
      if (!isObject(turn)) throw new MapError("messages", index, `${m.messages}[${k}] must be an object`);
      const from = tagOf.get(turn[m.roleKey]);
      if (from === undefined) {
        const known = [m.userTag, m.assistantTag, m.systemTag].filter(Boolean).map((t) => `"${t}"`).join(", ");
        throw new MapError("roleKey", index, `${m.messages}[${k}].${m.roleKey} is ${JSON.stringify(turn[m.roleKey]) ?? "missing"}; expected ${known}`);
      }
      return { from, value: turn[m.contentKey] };
    }),
  };
}

/** The dataset_info.json entry for records written by mapOne. */
export function entryFor(m: ImportMapping): MappedEntry {
  if (m.format === "openai") {
    return { formatting: OPENAI_MESSAGES_LAYOUT.formatting, columns: { ...OPENAI_MESSAGES_LAYOUT.columns }, tags: { ...OPENAI_MESSAGES_LAYOUT.tags } };
  }
  if (m.format === "sharegpt") return { formatting: "sharegpt" };
  const system: Record<string, string> = "system" in m && m.system ? { system: "system" } : {};
  if (m.format === "preference") {
    return { formatting: "alpaca", ranking: true, columns: { prompt: "instruction", query: "input", chosen: "chosen", rejected: "rejected", ...system } };
  }
  if (m.format === "kto") {
    return { formatting: "alpaca", columns: { prompt: "instruction", query: "input", response: "output", kto_tag: "kto_tag", ...system } };
  }
  // LLaMA-Factory's own pre-training entries read the text through the prompt column.
  if (m.format === "text") return { formatting: "alpaca", columns: { prompt: "text" } };
  // A columns object replaces all of LLaMA-Factory's defaults (system and history are off by
  // default), so it lists every column the records carry.
  const columns: Record<string, string> = { prompt: "instruction", query: "input", response: "output" };
  if (m.system) columns.system = "system";
  if (m.history) columns.history = "history";
  return { formatting: "alpaca", columns };
}

// Which mapping field a validation error on an output column belongs to.
const FIELD_OF_COLUMN: Record<string, string> = { conversations: "messages", messages: "messages", kto_tag: "ktoTag" };

/**
 * Maps and validates every record (stopping at the first bad one, which the result names). The
 * validation is the registry's own (formats.ts), so a mapped dataset is one the trainer accepts.
 */
export function applyMapping(raw: readonly unknown[], m: ImportMapping, name = "import"): MapResult {
  if (raw.length === 0) return { ok: false, field: "file", message: "the file has no records" };
  let records: unknown[];
  try {
    records = raw.map((r, i) => mapOne(r, i, m));
  } catch (err) {
    if (err instanceof MapError) return { ok: false, field: err.field, recordIndex: err.recordIndex, message: err.message };
    throw err;
  }
  const entry = entryFor(m);
  try {
    const ctx = { name, field: "file" };
    validateRecords(records, resolveLayout({ file_name: "x.json", ...entry }, ctx), ctx);
  } catch (err) {
    if (!isDatasetError(err)) throw err;
    const column = (err as DatasetError).column;
    const field = column === undefined ? "file" : (FIELD_OF_COLUMN[column] ?? column);
    return {
      ok: false,
      field,
      ...(err.recordIndex === undefined ? {} : { recordIndex: err.recordIndex }),
      message: err.message.replace(/^dataset "[^"]*": /, ""),
    };
  }
  return { ok: true, records, entry };
}
