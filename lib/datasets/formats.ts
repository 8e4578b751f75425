// Record validation for LLaMA-Factory's two formattings, alpaca and sharegpt (OpenAI-style
// messages are sharegpt with other tags), following its dataset_info.json semantics
// (DatasetAttr.join) and its converters (AlpacaDatasetConverter, SharegptDatasetConverter), so
// that what Tuneboard accepts is exactly what the trainer can use, and every record is
// normalised to one Conversation shape for previews.
import {
  alpacaRecordSchema,
  COLUMN_DEFAULTS,
  isToolsJson,
  RANKING_COLUMN_DEFAULTS,
  TAG_DEFAULTS,
  type AlpacaRecord,
  type ChatTurn,
  type ColumnKey,
  type Conversation,
  type DatasetEntry,
  type DatasetKind,
  type Formatting,
  type MessageRole,
  type TagKey,
} from "../schemas/dataset";
import { DatasetError } from "./errors";
import { datasetKind } from "./kind";
import { parseKto, parsePair, parseText, type KtoRecord, type PreferencePair } from "./stage-records";

/** An entry's columns and tags after LLaMA-Factory's defaulting; null means "not read". */
export interface Layout {
  formatting: Formatting;
  /** What the records train (kind.ts): decides which columns are required and how records are read. */
  kind: DatasetKind;
  columns: Record<ColumnKey, string | null>;
  tags: Record<TagKey, string | null>;
}

/** Who is being validated: the registry name (for messages) and the form field to blame. */
export interface DatasetContext {
  name: string;
  field: string;
}

export const prefix = (ctx: DatasetContext) => `dataset "${ctx.name}": `;

/**
 * Resolves an entry's layout the way DatasetAttr.join does: a `columns` (or `tags`) object, even
 * an empty one, replaces every default, and keys it leaves out are null. Refuses layouts the
 * trainer could not train on at all (no response column, no role tags), so the fix is pointed at
 * dataset_info.json rather than at record 0.
 */
export function resolveLayout(entry: DatasetEntry, ctx: DatasetContext): Layout {
  const formatting = entry.formatting ?? "alpaca";
  const kind = datasetKind(entry);
  const refuse = (message: string) => new DatasetError("invalid_registry", ctx.field, `${prefix(ctx)}${message}`);
  const columns = overlay(COLUMN_DEFAULTS, entry.columns);
  const tags = overlay(TAG_DEFAULTS, entry.tags);
  const omitted = "(a columns or tags object replaces all of LLaMA-Factory's defaults, so list every one you use)";
  if (kind === "pretraining") {
    if (formatting !== "alpaca") throw refuse('a pre-training dataset (columns.text) must use the alpaca formatting');
    // The trainer reads the text column, else the prompt column LLaMA-Factory's own pt sets use.
    columns.text ??= columns.prompt ?? "text";
    return { formatting, kind, columns, tags };
  }
  if (kind === "preference") {
    columns.chosen ??= RANKING_COLUMN_DEFAULTS.chosen;
    columns.rejected ??= RANKING_COLUMN_DEFAULTS.rejected;
  }
  if (formatting === "alpaca") {
    if (kind !== "preference" && columns.response === null) throw refuse(`columns must name the "response" column ${omitted}`);
  } else {
    if (columns.messages === null) throw refuse(`columns must name the "messages" column ${omitted}`);
    const missing = (["role_tag", "content_tag", "user_tag", "assistant_tag"] as const).filter((t) => tags[t] === null);
    if (missing.length > 0) throw refuse(`tags must set ${missing.join(", ")} ${omitted}`);
  }
  return { formatting, kind, columns, tags };
}

function overlay<K extends string>(defaults: Readonly<Record<K, string | null>>, given: Readonly<Record<string, string>> | undefined) {
  const out = { ...defaults } as Record<K, string | null>;
  if (given === undefined) return out;
  for (const key of Object.keys(defaults) as K[]) {
    // LLaMA-Factory tests these with plain truthiness, so "" is as good as absent.
    const value = Object.hasOwn(given, key) ? given[key] : undefined;
    out[key] = value === undefined || value === "" ? null : value;
  }
  return out;
}

export interface ValidatedRecords {
  /**
   * One conversation per record, for previews and counts: a preference record's prompt with the
   * chosen answer, a pre-training document as one assistant turn (every token of it is trained).
   */
  records: Conversation[];
  /** The canonical alpaca records, for alpaca supervised (sft) datasets only. */
  alpaca: AlpacaRecord[] | null;
  /** Preference datasets: each record's prompt and both answers. */
  pairs: PreferencePair[] | null;
  /** KTO datasets: each record's conversation and its desirable flag. */
  kto: KtoRecord[] | null;
}

/** Validates every record (stopping at the first bad one) and normalises them all. */
export function validateRecords(raw: readonly unknown[], layout: Layout, ctx: DatasetContext): ValidatedRecords {
  const none = { alpaca: null, pairs: null, kto: null };
  if (layout.kind === "preference") {
    const pairs = raw.map((record, index) => parsePair(record, index, layout, ctx));
    return { ...none, pairs, records: pairs.map((p) => ({ ...p.prompt, messages: [...p.prompt.messages, { role: "assistant", content: p.chosen }] })) };
  }
  if (layout.kind === "kto") {
    const kto = raw.map((record, index) => parseKto(record, index, layout, ctx));
    return { ...none, kto, records: kto.map((k) => k.conversation) };
  }
  if (layout.kind === "pretraining") {
    return { ...none, records: raw.map((record, index) => ({ messages: [{ role: "assistant", content: parseText(record, index, layout, ctx) }] })) };
  }
  if (layout.formatting === "alpaca") {
    const alpaca = raw.map((record, index) => parseAlpaca(record, index, layout, ctx));
    return { ...none, records: alpaca.map(alpacaToConversation), alpaca };
  }
  return { ...none, records: raw.map((record, index) => parseSharegpt(record, index, layout, ctx)) };
}

export function recordError(ctx: DatasetContext, index: number, where: string, message: string, cause?: unknown): DatasetError {
  // The top-level key of "history[0][1]" or "conversations[2].value", for an editor to mark.
  const column = /^[^.[]+/.exec(where)?.[0];
  return new DatasetError("invalid_record", ctx.field, `${prefix(ctx)}record ${index}: ${where ? `${where}: ` : ""}${message}`, {
    recordIndex: index,
    cause,
    ...(column === undefined ? {} : { column }),
  });
}

/** "history", 0, 1 → "history[0][1]". */
function pathText(head: string, rest: readonly PropertyKey[]): string {
  return head + rest.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("");
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// alpaca

const ALPACA_FIELDS = [
  ["instruction", "prompt"],
  ["input", "query"],
  ["output", "response"],
  ["system", "system"],
  ["history", "history"],
  ["tools", "tools"],
] as const;

export function parseAlpaca(record: unknown, index: number, layout: Layout, ctx: DatasetContext): AlpacaRecord {
  if (!isObject(record)) throw recordError(ctx, index, "", "must be an object");
  const fileColumnOf = new Map<string, string>();
  const picked: Record<string, unknown> = {};
  for (const [canonical, key] of ALPACA_FIELDS) {
    const column = layout.columns[key];
    if (column === null) continue;
    fileColumnOf.set(canonical, column);
    // JSON null counts as absent: HF datasets fills missing keys with null, so files exported
    // from LLaMA-Factory often carry "input": null.
    if (Object.hasOwn(record, column) && record[column] !== null) picked[canonical] = record[column];
  }
  // With no prompt column LLaMA-Factory builds the user turn from the query alone.
  if (layout.columns.prompt === null) picked.instruction = "";
  const result = alpacaRecordSchema.safeParse(picked);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const [head, ...rest] = issue?.path ?? [];
  const where = head === undefined ? "" : pathText(fileColumnOf.get(String(head)) ?? String(head), rest);
  throw recordError(ctx, index, where, issue?.message ?? "invalid", result.error);
}

/** LLaMA-Factory's AlpacaDatasetConverter: history pairs, then "prompt\nquery" (empty parts dropped), then the response. */
export function alpacaToConversation(r: AlpacaRecord): Conversation {
  const messages: ChatTurn[] = [];
  for (const [user, assistant] of r.history ?? []) {
    messages.push({ role: "user", content: user }, { role: "assistant", content: assistant });
  }
  messages.push({ role: "user", content: [r.instruction, r.input].filter((s) => s !== "").join("\n") });
  messages.push({ role: "assistant", content: r.output });
  return withExtras({ messages }, r.system, r.tools);
}

function withExtras(conversation: Conversation, system: string | undefined, tools: string | undefined): Conversation {
  // Empty system/tools mean "none" to the trainer, so the preview leaves them out too.
  return {
    ...(system ? { system } : {}),
    ...(tools !== undefined && tools.trim() !== "" ? { tools } : {}),
    messages: conversation.messages,
  };
}

// ---------------------------------------------------------------------------------------------
// sharegpt

export function parseSharegpt(record: unknown, index: number, layout: Layout, ctx: DatasetContext): Conversation {
  const fail = (where: string, message: string) => recordError(ctx, index, where, message);
  if (!isObject(record)) throw fail("", "must be an object");
  const { columns, tags } = layout;
  const messagesColumn = columns.messages as string; // resolveLayout guarantees it
  const roleTag = tags.role_tag as string;
  const contentTag = tags.content_tag as string;
  const userTag = tags.user_tag as string;
  const assistantTag = tags.assistant_tag as string;

  const list = Object.hasOwn(record, messagesColumn) ? record[messagesColumn] : undefined;
  if (!Array.isArray(list)) {
    const got = list === undefined || list === null ? "it is missing" : `got ${describe(list)}`;
    throw fail(messagesColumn, `must be a list of messages (${got})`);
  }
  const at = (i: number) => `${messagesColumn}[${i}]`;

  // A leading system message is taken as the system prompt; otherwise the system column, if mapped.
  let start = 0;
  let system: string | undefined;
  const first: unknown = list[0];
  if (tags.system_tag !== null && isObject(first) && first[roleTag] === tags.system_tag) {
    const content = first[contentTag];
    if (typeof content !== "string") throw fail(`${at(0)}.${contentTag}`, "must be a string");
    system = content;
    start = 1;
  } else if (columns.system !== null && Object.hasOwn(record, columns.system) && record[columns.system] !== null) {
    const value = record[columns.system];
    if (typeof value !== "string") throw fail(columns.system, "must be a string");
    system = value;
  }

  let tools: string | undefined;
  if (columns.tools !== null && Object.hasOwn(record, columns.tools) && record[columns.tools] !== null) {
    const value = record[columns.tools];
    if (typeof value !== "string") throw fail(columns.tools, "must be a string of JSON tool definitions");
    if (!isToolsJson(value)) throw fail(columns.tools, "must be a JSON list of tool definitions");
    tools = value;
  }

  const roleOf = new Map<string, MessageRole>();
  roleOf.set(userTag, "user");
  roleOf.set(assistantTag, "assistant");
  if (tags.observation_tag !== null) roleOf.set(tags.observation_tag, "observation");
  if (tags.function_tag !== null) roleOf.set(tags.function_tag, "function");

  const messages: ChatTurn[] = [];
  for (let i = start; i < list.length; i++) {
    const message: unknown = list[i];
    if (!isObject(message)) throw fail(at(i), `must be an object with "${roleTag}" and "${contentTag}"`);
    const odd = (i - start) % 2 === 1;
    const [primary, alternate, why] = odd
      ? [assistantTag, tags.function_tag, "for a tool call"]
      : [userTag, tags.observation_tag, "for a tool result"];
    const tag = message[roleTag];
    if (tag !== primary && (alternate === null || tag !== alternate)) {
      const also = alternate === null ? "" : ` (or "${alternate}" ${why})`;
      const got = tag === undefined ? "it is missing" : typeof tag === "string" ? `got "${tag}"` : `got ${describe(tag)}`;
      throw fail(`${at(i)}.${roleTag}`, `expected "${primary}" at an ${odd ? "odd" : "even"} position${also}, ${got}`);
    }
    const content = message[contentTag];
    if (typeof content !== "string" || content.trim() === "") throw fail(`${at(i)}.${contentTag}`, "must be a non-empty string");
    const role = roleOf.get(tag as string) as MessageRole;
    if (role === "function" && !isFunctionCallJson(content)) {
      throw fail(`${at(i)}.${contentTag}`, 'a function call must be JSON: {"name": ..., "arguments": ...} or a list of them');
    }
    messages.push({ role, content });
  }

  const turns = list.length - start;
  if (turns === 0) throw fail(messagesColumn, `has no turns (needs a "${userTag}" turn and a "${assistantTag}" reply)`);
  if (turns % 2 === 1) {
    const lastTag = String((list[list.length - 1] as Record<string, unknown>)[roleTag]);
    const also = tags.function_tag === null ? "" : ` (or "${tags.function_tag}")`;
    throw fail(messagesColumn, `must end with a "${assistantTag}" turn${also}, but ends with "${lastTag}" at ${at(list.length - 1)}`);
  }
  return withExtras({ messages }, system, tools);
}

// LLaMA-Factory's FunctionFormatter json.loads the content (after removing a <think> block) and
// aborts training if it is not JSON or lacks name/arguments. Exported for the turn editor.
export function isFunctionCallJson(content: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content.replace(/<think>[\s\S]*?<\/think>/, ""));
  } catch {
    return false;
  }
  const calls = Array.isArray(parsed) ? parsed : [parsed];
  // Newer LLaMA-Factory also accepts OpenAI's {"type": "function", "function": {...}} wrapper.
  const unwrap = (c: unknown) => (isObject(c) && c.type === "function" && isObject(c.function) ? c.function : c);
  return (
    calls.length > 0 &&
    calls.map(unwrap).every((c) => isObject(c) && typeof c.name === "string" && Object.hasOwn(c, "arguments"))
  );
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return "a string";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
