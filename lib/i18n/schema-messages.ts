// Every custom message a zod schema can produce, read from the schema itself (for the test that
// each has a Chinese translation). In zod 4 a string given as `error`/message is kept as a function
// returning it, on the schema's def or on its checks; this walks the nested schemas to find them.
import type { z } from "zod";

type Def = Record<string, unknown> & { error?: (iss?: unknown) => unknown; checks?: { _zod: { def: Def } }[] };

function isSchema(v: unknown): v is z.ZodType {
  return typeof v === "object" && v !== null && "_zod" in v && typeof (v as { _zod: { def?: unknown } })._zod.def === "object";
}

function messageOf(def: Def, out: Set<string>) {
  if (typeof def.error !== "function") return;
  try {
    // A schema's own error may answer only its wrong-type issue (checks keep their own messages).
    const m = def.error({ code: "invalid_type" });
    if (typeof m === "string") out.add(m);
    else if (m && typeof (m as { message?: unknown }).message === "string") out.add((m as { message: string }).message);
  } catch {
    // A message built from the issue: not a fixed string, nothing to list.
  }
}

export function schemaMessages(schema: z.ZodType): string[] {
  const out = new Set<string>();
  const seen = new Set<unknown>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (typeof v === "object" && v !== null && !isSchema(v)) return Object.values(v).forEach(visit);
    if (!isSchema(v) || seen.has(v)) return;
    seen.add(v);
    const def = v._zod.def as unknown as Def;
    messageOf(def, out);
    for (const check of def.checks ?? []) messageOf(check._zod.def, out);
    for (const [key, value] of Object.entries(def)) if (key !== "checks" && key !== "error") visit(value);
  };
  visit(schema);
  return [...out].sort();
}
