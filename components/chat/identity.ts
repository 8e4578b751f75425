// Identity check scoring: does each answer contain the model's name and its author (case-insensitive substring
// match: CJK has no word boundaries; "Greatbot" in "I'm Greatbot!" counts), and is it clean (lib/chat/clean-answer.ts)?
import { isCleanAnswer } from "@/lib/chat/clean-answer";

export interface IdentityAnswer {
  question: string;
  answer: string;
}

export interface IdentityScore {
  total: number;
  withName: number;
  withAuthor: number;
  withBoth: number;
  clean: number;
  rows: (IdentityAnswer & { hasName: boolean; hasAuthor: boolean; isClean: boolean })[];
}

const contains = (text: string, needle: string) => needle.trim() !== "" && text.toLowerCase().includes(needle.trim().toLowerCase());

/** `vocabulary`: the words of the training answers (vocabularyOf in lib/chat/clean-answer.ts). */
export function scoreIdentity(answers: IdentityAnswer[], name: string, author: string, vocabulary: ReadonlySet<string>): IdentityScore {
  const rows = answers.map((a) => ({
    ...a,
    hasName: contains(a.answer, name),
    hasAuthor: contains(a.answer, author),
    isClean: isCleanAnswer(a.answer, vocabulary),
  }));
  return {
    total: rows.length,
    withName: rows.filter((r) => r.hasName).length,
    withAuthor: rows.filter((r) => r.hasAuthor).length,
    withBoth: rows.filter((r) => r.hasName && r.hasAuthor).length,
    clean: rows.filter((r) => r.isClean).length,
    rows,
  };
}

/**
 * Recovers the {{name}} / {{author}} an identity dataset was filled with, by matching a filled record
 * against its template record (same position: the fill keeps the order). null when no record tells.
 */
export function inferIdentity(template: string[], filled: string[]): { name: string; author: string } | null {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  for (let i = 0; i < Math.min(template.length, filled.length); i++) {
    const t = template[i];
    if (!t.includes("{{name}}") || !t.includes("{{author}}")) continue;
    const order = [...t.matchAll(/\{\{(name|author)\}\}/g)].map((m) => m[1]);
    const pattern = t
      .split(/(\{\{(?:name|author)\}\})/)
      .map((part) => (part === "{{name}}" || part === "{{author}}" ? "(.+?)" : esc(part)))
      .join("");
    const m = new RegExp(`^${pattern}$`, "s").exec(filled[i]);
    if (!m) continue;
    const got: Record<string, string> = {};
    order.forEach((k, j) => (got[k] ??= m[j + 1]));
    if (got.name && got.author && !`${got.name}${got.author}`.includes("{{")) return { name: got.name, author: got.author };
  }
  return null;
}
