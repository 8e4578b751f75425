// zod issues to the messages a form shows at its inputs: one message per field (the first issue
// of each, the one the user filled in first), keyed by the input's name. The message is the
// schema's own words; the field's internal name never goes in front of it, since the message
// already sits beside the input the user typed in.
import type { z } from "zod";

export type FieldErrors = Partial<Record<string, string>>;

/** Which input an issue belongs to: by default the top-level key of its path, or `fallback`. */
export type FieldOf = (path: readonly PropertyKey[]) => string | undefined;

const topLevel: FieldOf = (path) => (path.length > 0 ? String(path[0]) : undefined);

/** Every field's first message. */
export function fieldErrorsFromZod(error: z.ZodError, fallback = "form", fieldOf: FieldOf = topLevel): FieldErrors {
  const out: FieldErrors = {};
  for (const issue of error.issues) out[fieldOf(issue.path) ?? fallback] ??= issue.message;
  return out;
}

/** The first issue only, as {field, message}: for forms that show one refusal per submit. */
export function firstFieldError(error: z.ZodError, fallback: string, fieldOf: FieldOf = topLevel): { field: string; message: string } {
  const issue = error.issues[0];
  return { field: (issue && fieldOf(issue.path)) ?? fallback, message: issue?.message ?? "invalid value" };
}
