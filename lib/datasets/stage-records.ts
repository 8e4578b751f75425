// Records of the stages beyond sft, read with the trainer's rules (worker/trainer/tuneboard_trainer/
// stage_data.py): preference pairs (`ranking: true`), KTO's tagged answers and pre-training text.
// Both sides are tested against the same golden cases (lib/datasets/golden/stage-records.json), so
// the editor refuses exactly the records the trainer would refuse, at the column to fix.
import type { Conversation } from "../schemas/dataset";
import { describe, isObject, parseAlpaca, parseSharegpt, recordError, type DatasetContext, type Layout } from "./formats";

/** One preference record: the conversation up to the answer (ends with a user turn), and both answers. */
export interface PreferencePair {
  prompt: Conversation;
  chosen: string;
  rejected: string;
}

export interface KtoRecord {
  conversation: Conversation;
  desirable: boolean;
}

/**
 * An answer cell: a string (alpaca), or a message object or list of messages (sharegpt: the last
 * one's content), as stage_data._answer_text reads it.
 */
function answerText(record: Record<string, unknown>, column: string, contentTag: string | null, index: number, ctx: DatasetContext): string {
  let value: unknown = Object.hasOwn(record, column) ? record[column] : undefined;
  if (Array.isArray(value)) value = value.length > 0 ? value[value.length - 1] : undefined;
  if (isObject(value) && contentTag !== null) value = Object.hasOwn(value, contentTag) ? value[contentTag] : undefined;
  if (value === undefined || value === null) throw recordError(ctx, index, column, "is missing (every pair needs a chosen and a rejected answer)");
  if (typeof value !== "string") throw recordError(ctx, index, column, `must be a string or a message (got ${describe(value)})`);
  if (value.trim() === "") throw recordError(ctx, index, column, "must not be empty");
  return value;
}

export function parsePair(record: unknown, index: number, layout: Layout, ctx: DatasetContext): PreferencePair {
  if (!isObject(record)) throw recordError(ctx, index, "", "must be an object");
  const chosenColumn = layout.columns.chosen as string; // resolveLayout sets both for a preference layout
  const rejectedColumn = layout.columns.rejected as string;
  const contentTag = layout.formatting === "sharegpt" ? layout.tags.content_tag : null;
  const chosen = answerText(record, chosenColumn, contentTag, index, ctx);
  const rejected = answerText(record, rejectedColumn, contentTag, index, ctx);
  if (chosen.trim() === rejected.trim()) {
    throw recordError(ctx, index, rejectedColumn, "must differ from the chosen answer (an identical pair teaches nothing)");
  }
  return { prompt: promptOf(record, index, layout, ctx, chosen), chosen, rejected };
}

/** The record's conversation up to the answer; refuses an empty prompt at its column. */
function promptOf(record: Record<string, unknown>, index: number, layout: Layout, ctx: DatasetContext, answer: string): Conversation {
  if (layout.formatting === "alpaca") {
    // The chosen column stands in for the response column, as in the trainer.
    const r = parseAlpaca(record, index, { ...layout, columns: { ...layout.columns, response: layout.columns.chosen } }, ctx);
    if (r.instruction.trim() === "" && r.input.trim() === "") {
      throw recordError(ctx, index, layout.columns.prompt ?? layout.columns.query ?? "instruction", "must not be empty (the prompt would be blank)");
    }
    const messages = [...(r.history ?? []).flatMap(([u, a]) => [{ role: "user" as const, content: u }, { role: "assistant" as const, content: a }])];
    messages.push({ role: "user", content: [r.instruction, r.input].filter((s) => s !== "").join("\n") });
    return { ...(r.system ? { system: r.system } : {}), messages };
  }
  const column = layout.columns.messages as string;
  const turns = Object.hasOwn(record, column) ? record[column] : undefined;
  if (turns === undefined || turns === null || (Array.isArray(turns) && turns.length === 0)) {
    throw recordError(ctx, index, column, "must not be empty (the prompt needs at least one user turn)");
  }
  const roleTag = layout.tags.role_tag as string;
  const contentTag = layout.tags.content_tag as string;
  const last: unknown = Array.isArray(turns) ? turns.at(-1) : undefined;
  if (isObject(last) && [layout.tags.assistant_tag, layout.tags.function_tag].includes(last[roleTag] as string)) {
    throw recordError(ctx, index, column, "must end with a user turn (the chosen and rejected answers reply to it)");
  }
  const reply = { [roleTag]: layout.tags.assistant_tag, [contentTag]: answer };
  const withReply = Array.isArray(turns) ? { ...record, [column]: [...(turns as unknown[]), reply] } : record;
  const conversation = parseSharegpt(withReply, index, layout, ctx);
  return { ...conversation, messages: conversation.messages.slice(0, -1) };
}

/** The trainer reads a CSV cell "true"/"false" as the boolean. */
function ktoFlag(value: unknown): boolean | null {
  if (typeof value === "boolean") return value;
  if (typeof value === "string" && ["true", "false"].includes(value.trim().toLowerCase())) return value.trim().toLowerCase() === "true";
  return null;
}

export function parseKto(record: unknown, index: number, layout: Layout, ctx: DatasetContext): KtoRecord {
  if (!isObject(record)) throw recordError(ctx, index, "", "must be an object");
  const column = layout.columns.kto_tag as string; // datasetKind: a kto layout names it
  const desirable = ktoFlag(Object.hasOwn(record, column) ? record[column] : undefined);
  if (desirable === null) throw recordError(ctx, index, column, "must be true (a desirable answer) or false (an undesirable one)");
  if (layout.formatting === "alpaca") {
    const r = parseAlpaca(record, index, layout, ctx);
    if (r.instruction.trim() === "" && r.input.trim() === "") {
      throw recordError(ctx, index, layout.columns.prompt ?? layout.columns.query ?? "instruction", "must not be empty (the prompt would be blank)");
    }
    const messages = [...(r.history ?? []).flatMap(([u, a]) => [{ role: "user" as const, content: u }, { role: "assistant" as const, content: a }])];
    messages.push({ role: "user", content: [r.instruction, r.input].filter((s) => s !== "").join("\n") }, { role: "assistant", content: r.output });
    return { conversation: { ...(r.system ? { system: r.system } : {}), messages }, desirable };
  }
  return { conversation: parseSharegpt(record, index, layout, ctx), desirable };
}

/** A pre-training document: the text column, a non-empty string. */
export function parseText(record: unknown, index: number, layout: Layout, ctx: DatasetContext): string {
  if (!isObject(record)) throw recordError(ctx, index, "", "must be an object");
  const column = layout.columns.text as string; // resolveLayout sets it for a pre-training layout
  const value = Object.hasOwn(record, column) ? record[column] : undefined;
  if (value === undefined || value === null) throw recordError(ctx, index, column, "is missing (the document text)");
  if (typeof value !== "string") throw recordError(ctx, index, column, `must be a string (got ${describe(value)})`);
  if (value.trim() === "") throw recordError(ctx, index, column, "must not be empty");
  return value;
}
