// The conversation and settings, kept in this browser's localStorage so a reload keeps them.
// Why localStorage and not the DB: a chat is one user's scratch work in one browser; the server
// has no user accounts to attach it to, and nothing else needs it. Parsed with zod on the way in:
// a corrupt or older entry is dropped, never trusted.
import { z } from "zod";

export const STORAGE_KEY = "tuneboard.chat.v1";

const answer = z.object({
  requestId: z.string().max(64),
  content: z.string().max(200_000),
  finish: z.enum(["stop", "length", "aborted", "error"]).optional(),
  tokensPerSec: z.number().nullable().optional(),
  error: z.string().nullable().optional(),
});
export type Answer = z.infer<typeof answer>;

const turn = z.object({ user: z.string().max(100_000), tuned: answer, base: answer.optional() });
export type Turn = z.infer<typeof turn>;

/** Form values as typed (strings), validated with generationParams when sending. */
export const settingsForm = z.object({
  system: z.string().max(100_000),
  max_new_tokens: z.string().max(20),
  temperature: z.string().max(20),
  top_p: z.string().max(20),
  top_k: z.string().max(20),
  repetition_penalty: z.string().max(20),
  seed: z.string().max(20),
});
export type SettingsForm = z.infer<typeof settingsForm>;

// LlamaBoard's defaults; top-k and the repetition penalty are off.
export const DEFAULT_SETTINGS: SettingsForm = {
  system: "",
  max_new_tokens: "1024",
  temperature: "0.95",
  top_p: "0.7",
  top_k: "0",
  repetition_penalty: "1",
  seed: "",
};

const saved = z.object({
  turns: z.array(turn).max(500),
  settings: settingsForm,
  compare: z.boolean(),
});
export type Saved = z.infer<typeof saved>;

export function loadSaved(storage: Pick<Storage, "getItem"> | undefined): Saved | null {
  try {
    const raw = storage?.getItem(STORAGE_KEY);
    if (!raw) return null;
    const parsed = saved.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export function save(storage: Pick<Storage, "setItem"> | undefined, value: Saved): void {
  try {
    storage?.setItem(STORAGE_KEY, JSON.stringify(value));
  } catch {
    // full or disabled storage: the chat still works, it just won't survive a reload
  }
}

/** Answers still streaming when the page went away can't be resumed (their end event is gone). */
export function interrupted(turns: Turn[]): { turns: Turn[]; requestIds: string[] } {
  const ids: string[] = [];
  const fix = (a: Answer): Answer => (a.finish ? a : (ids.push(a.requestId), { ...a, finish: "aborted" }));
  return { turns: turns.map((t) => ({ ...t, tuned: fix(t.tuned), base: t.base && fix(t.base) })), requestIds: ids };
}

/** The messages for one answer column: earlier turns with that column's answers, then the question. */
export function historyFor(
  turns: Turn[],
  column: "tuned" | "base",
  system: string,
  question: string,
): { role: "system" | "user" | "assistant"; content: string }[] {
  return [
    ...(system.trim() ? [{ role: "system" as const, content: system.trim() }] : []),
    ...turns.flatMap((t) => [
      { role: "user" as const, content: t.user },
      { role: "assistant" as const, content: (column === "base" ? (t.base ?? t.tuned) : t.tuned).content },
    ]),
    { role: "user" as const, content: question },
  ];
}
