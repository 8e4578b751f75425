// The ?ids= of the Compare page: "1,2,3" (or ids=1&ids=2, what a GET form sends), 2 to 6
// distinct run numbers. Errors say what is wrong so the page can show it.
import { z } from "zod";

export const COMPARE_MIN = 2;
export const COMPARE_MAX = 6;

export type CompareIds = { ok: true; ids: number[] } | { ok: false; error: "empty" | "ids" | "count"; n: number };

const idList = z.array(z.coerce.number().int().positive());

export function parseCompareIds(raw: string | string[] | undefined): CompareIds {
  const parts = (Array.isArray(raw) ? raw : raw ? [raw] : [])
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) return { ok: false, error: "empty", n: 0 };
  const parsed = idList.safeParse(parts);
  if (!parsed.success) return { ok: false, error: "ids", n: parts.length };
  const ids = [...new Set(parsed.data)];
  if (ids.length < COMPARE_MIN || ids.length > COMPARE_MAX) return { ok: false, error: "count", n: ids.length };
  return { ok: true, ids };
}
