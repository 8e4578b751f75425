// Conversation records (sharegpt `conversations: [{from, value}]` with the entry's tags, or
// OpenAI-style `messages: [{role, content}]`) as a list of turns for the turn-by-turn editor, and
// back. Pure (no Node APIs): the editor runs the same conversion and validation in the browser
// that the server action runs again before anything is written.
//
// Round trip: a turn remembers which stored message it came from (`source`), and writing back
// starts from the stored record and that message, so keys the editor does not know (a message's
// "loss" or "name", a record's "id" or "images") are kept, in their original order.
import { z } from "zod";
import { isFunctionCallJson, type Layout } from "./formats";

export const TURN_ROLES = ["system", "user", "assistant", "observation", "function"] as const;
export type TurnRole = (typeof TURN_ROLES)[number];

/** What the turn editor needs of a dataset's layout: the messages key, the role/content keys and each role's tag. */
export interface ConversationLayout {
  messages: string;
  roleKey: string;
  contentKey: string;
  /** The tag each role is written as; null: the entry's tags leave the role out, so it is not offered. */
  tags: Record<TurnRole, string | null>;
  /** The record key of the system prompt (dataset_info.json columns.system), or null. */
  systemColumn: string | null;
}

/** The editor's layout for a sharegpt entry; null for alpaca (edited field by field). */
export function conversationLayout(layout: Layout): ConversationLayout | null {
  const { columns, tags } = layout;
  if (layout.formatting !== "sharegpt" || columns.messages === null || tags.role_tag === null || tags.content_tag === null) return null;
  return {
    messages: columns.messages,
    roleKey: tags.role_tag,
    contentKey: tags.content_tag,
    tags: {
      system: tags.system_tag,
      user: tags.user_tag,
      assistant: tags.assistant_tag,
      observation: tags.observation_tag,
      function: tags.function_tag,
    },
    systemColumn: columns.system,
  };
}

/** The roles a dataset's tags define, in the order the role select lists them. */
export function availableRoles(cl: ConversationLayout): TurnRole[] {
  return TURN_ROLES.filter((r) => cl.tags[r] !== null);
}

export interface Turn {
  role: TurnRole;
  content: string;
  /** Index of the stored message this turn was read from (its other keys are kept); null for a new turn. */
  source: number | null;
}

export interface TurnsDoc {
  turns: Turn[];
  /** The system column's text; null when the layout has no system column. */
  system: string | null;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export type ToTurnsResult = { ok: true; doc: TurnsDoc } | { ok: false; reason: string };

/**
 * A stored record as turns, or why the turn editor cannot show it (the page then offers only the
 * JSON editor): not an object, no list of messages, a message that is not {role, content} text,
 * a role no tag of the entry names, or a system message after the first.
 */
export function recordToTurns(record: unknown, cl: ConversationLayout): ToTurnsResult {
  if (!isObject(record)) return { ok: false, reason: "the record is not an object" };
  const list = record[cl.messages];
  if (!Array.isArray(list)) return { ok: false, reason: `"${cl.messages}" is not a list` };
  const roleOf = new Map<unknown, TurnRole>();
  // Reverse order, so that if two roles share a tag the earlier (more common) role wins.
  for (const role of [...TURN_ROLES].reverse()) if (cl.tags[role] !== null) roleOf.set(cl.tags[role], role);
  const turns: Turn[] = [];
  for (const [i, message] of list.entries()) {
    if (!isObject(message)) return { ok: false, reason: `${cl.messages}[${i}] is not an object` };
    const role = roleOf.get(message[cl.roleKey]);
    if (role === undefined) return { ok: false, reason: `${cl.messages}[${i}].${cl.roleKey} is ${JSON.stringify(message[cl.roleKey]) ?? "missing"}, which no tag names` };
    const content = message[cl.contentKey];
    if (typeof content !== "string") return { ok: false, reason: `${cl.messages}[${i}].${cl.contentKey} is not text` };
    if (role === "system" && i !== 0) return { ok: false, reason: `${cl.messages}[${i}] is a system message after the first` };
    turns.push({ role, content, source: i });
  }
  let system: string | null = null;
  if (cl.systemColumn !== null) {
    const value = record[cl.systemColumn];
    if (value !== undefined && value !== null && typeof value !== "string") return { ok: false, reason: `"${cl.systemColumn}" is not text` };
    system = value ?? "";
  }
  return { ok: true, doc: { turns, system } };
}

/**
 * Turns back into a record in the dataset's own keys and tags. `original` is the stored record
 * (null for a new one): its other keys, and the other keys of each turn's source message, are
 * kept. Call only with a doc that validateTurns accepts (every role has a tag).
 */
export function turnsToRecord(original: unknown, doc: TurnsDoc, cl: ConversationLayout): Record<string, unknown> {
  const base: Record<string, unknown> = isObject(original) ? { ...original } : {};
  const stored = Array.isArray(base[cl.messages]) ? (base[cl.messages] as unknown[]) : [];
  base[cl.messages] = doc.turns.map((turn) => {
    const tag = cl.tags[turn.role];
    if (tag === null) throw new Error(`no tag for role ${turn.role}`);
    const from = turn.source === null ? undefined : stored[turn.source];
    // Spreading the stored message first keeps its key order; role and content are overwritten in place.
    return { ...(isObject(from) ? from : {}), [cl.roleKey]: tag, [cl.contentKey]: turn.content };
  });
  if (cl.systemColumn !== null && doc.system !== null) {
    const before = base[cl.systemColumn];
    // An empty prompt where there was none (or null) stays as it was, so opening and saving a
    // record changes nothing.
    if (!(doc.system === "" && (before === undefined || before === null))) base[cl.systemColumn] = doc.system;
  }
  return base;
}

// ---------------------------------------------------------------------------------------------
// validation

export type TurnIssueCode =
  | "role_unavailable"
  | "system_not_first"
  | "expected_prompt"
  | "expected_reply"
  | "empty"
  | "function_json"
  | "no_turns"
  | "ends_with_prompt";

/** One problem, at a turn (index into doc.turns) or at the list as a whole (turn null). */
export interface TurnIssue {
  turn: number | null;
  code: TurnIssueCode;
  /** The turn's role (role_unavailable, ends_with_prompt). */
  role?: TurnRole;
  /** The roles allowed at that position (expected_prompt, expected_reply). */
  expected?: TurnRole[];
}

const PROMPT_ROLES: readonly TurnRole[] = ["user", "observation"];
const REPLY_ROLES: readonly TurnRole[] = ["assistant", "function"];

/**
 * LLaMA-Factory's rule, as the trainer applies it (data.py sharegpt_to_messages + templates.py
 * check_roles) and the registry checks it (formats.ts parseSharegpt): an optional system turn,
 * first only; then turns alternate prompt (user, or observation for a tool result) and reply
 * (assistant, or function for a tool call), starting with a prompt and ending with a reply.
 * Non-system text must not be blank and a function call must be JSON, as parseSharegpt requires.
 * Only the first order problem is reported (every later turn would be "wrong" after it); text
 * problems are reported at every turn.
 */
export function validateTurns(doc: TurnsDoc, cl: ConversationLayout): TurnIssue[] {
  const issues: TurnIssue[] = [];
  let orderReported = false;
  const start = doc.turns[0]?.role === "system" && cl.tags.system !== null ? 1 : 0;
  const offered = (roles: readonly TurnRole[]) => roles.filter((r) => cl.tags[r] !== null);
  for (const [i, turn] of doc.turns.entries()) {
    if (cl.tags[turn.role] === null) {
      issues.push({ turn: i, code: "role_unavailable", role: turn.role });
      orderReported = true;
      continue;
    }
    if (turn.role === "system") {
      if (i !== 0) {
        issues.push({ turn: i, code: "system_not_first" });
        orderReported = true;
      }
      continue;
    }
    const prompt = (i - start) % 2 === 0;
    const allowed = prompt ? PROMPT_ROLES : REPLY_ROLES;
    if (!orderReported && !allowed.includes(turn.role)) {
      issues.push({ turn: i, code: prompt ? "expected_prompt" : "expected_reply", expected: offered(allowed) });
      orderReported = true;
    }
    if (turn.content.trim() === "") issues.push({ turn: i, code: "empty" });
    else if (turn.role === "function" && !isFunctionCallJson(turn.content)) issues.push({ turn: i, code: "function_json" });
  }
  const count = doc.turns.length - start;
  if (count === 0) issues.push({ turn: null, code: "no_turns" });
  else if (!orderReported && count % 2 === 1) {
    const last = doc.turns.length - 1;
    issues.push({ turn: last, code: "ends_with_prompt", role: doc.turns[last]!.role });
  }
  return issues.sort((a, b) => (a.turn ?? -1) - (b.turn ?? -1));
}

/** An issue in English (server messages, as the rest of lib/datasets); the editor translates codes itself. */
export function issueText(issue: TurnIssue, cl: ConversationLayout): string {
  const tag = (r: TurnRole) => `"${cl.tags[r] ?? r}" (${r})`;
  switch (issue.code) {
    case "role_unavailable":
      return `this dataset's tags define no "${issue.role}" role`;
    case "system_not_first":
      return "a system turn may only come first";
    case "expected_prompt":
    case "expected_reply":
      return `expected ${(issue.expected ?? []).map(tag).join(" or ")} here: after the optional system turn, turns alternate user/assistant, starting with user`;
    case "empty":
      return "must not be empty";
    case "function_json":
      return 'a function call must be JSON: {"name": ..., "arguments": ...} or a list of them';
    case "no_turns":
      return "needs a user turn and an assistant reply";
    case "ends_with_prompt":
      return `the conversation must end with an assistant reply, not with ${tag(issue.role ?? "user")}`;
  }
}

const MAX_TEXT = 1_000_000;

/** A doc as the browser sends it (untrusted): shapes only; the rule is turnsDocSchema's. */
export const turnsDocInputSchema = z.object({
  system: z.string().max(MAX_TEXT, "at most 1,000,000 characters").nullable(),
  turns: z
    .array(
      z.object({
        role: z.enum(TURN_ROLES, { error: `role must be one of ${TURN_ROLES.join(", ")}` }),
        content: z.string().max(MAX_TEXT, "at most 1,000,000 characters"),
        source: z.number().int().min(0).nullable(),
      }),
    )
    .max(10_000, "at most 10,000 turns"),
});

/**
 * The doc with the dataset's rule: each issue of validateTurns becomes a zod issue at
 * ["turns", i] (or ["turns"]), its TurnIssue in params for the editor to translate.
 */
export function turnsDocSchema(cl: ConversationLayout) {
  return turnsDocInputSchema.superRefine((doc, ctx) => {
    for (const issue of validateTurns(doc, cl)) {
      ctx.addIssue({ code: "custom", path: issue.turn === null ? ["turns"] : ["turns", issue.turn], message: issueText(issue, cl), params: { issue } });
    }
  });
}

/** zod's issues back to TurnIssues (for the editor), keeping only those made by turnsDocSchema's rule. */
export function turnIssuesOf(error: z.ZodError): TurnIssue[] {
  return error.issues.flatMap((i) => {
    const issue = i.code === "custom" ? (i.params as { issue?: TurnIssue } | undefined)?.issue : undefined;
    return issue === undefined ? [] : [issue];
  });
}
