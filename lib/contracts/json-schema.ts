// zod → JSON Schema for the Python side, with each check's zod message carried along under
// "x-messages" (keyword → message), so that the Python loader (tuneboard_trainer/validation.py)
// reports a bad field with the same words the Train form shows.
import { z } from "zod";

type Json = Record<string, unknown>;
type CheckDef = { check: string; inclusive?: boolean; format?: string; error?: (issue: unknown) => unknown };
type SchemaDef = { type: string; error?: (issue: unknown) => unknown; checks?: { _zod: { def: CheckDef } }[] };

function message(error: CheckDef["error"], code: string): string | undefined {
  const out = error?.({ code });
  return typeof out === "string" ? out : undefined;
}

/** The JSON Schema keywords a zod check becomes, so its message can be looked up by keyword. */
function keywordsOf(check: CheckDef, kind: string): string[] {
  switch (check.check) {
    case "greater_than":
      return ["minimum", "exclusiveMinimum"];
    case "less_than":
      return ["maximum", "exclusiveMaximum"];
    case "number_format":
      return ["integer"];
    case "min_length":
      return [kind === "array" ? "minItems" : "minLength"];
    case "max_length":
      return [kind === "array" ? "maxItems" : "maxLength"];
    case "string_format":
      return ["pattern"];
    case "custom":
      return ["not", "anyOf"];
    default:
      return [];
  }
}

function messagesOf(schema: z.ZodType): Json | undefined {
  const def = (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
  const out: Json = {};
  const typeMessage = message(def.error, "invalid_type");
  if (typeMessage) for (const k of ["type", "enum", "const"]) out[k] = typeMessage;
  for (const c of def.checks ?? []) {
    const text = message(c._zod.def.error, "custom");
    if (text) for (const k of keywordsOf(c._zod.def, def.type)) out[k] = text;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The JSON Schema of what `schema` outputs (numbers, not the form's strings). Fields with a default
 * are optional and carry it ("default"), which the Python loader fills in.
 */
export function contractSchema(schema: z.ZodType, title: string): Json {
  const json = z.toJSONSchema(schema, {
    io: "output",
    target: "draft-2020-12",
    unrepresentable: "any",
    override(ctx) {
      const messages = messagesOf(ctx.zodSchema as unknown as z.ZodType);
      const target = ctx.jsonSchema as Json;
      // Only the keywords this node has (the type message also covers a wrong type).
      const present = Object.entries(messages ?? {}).filter(([k]) => k === "type" || k in target || (k === "integer" && target.type === "integer"));
      if (present.length > 0) target["x-messages"] = { ...(target["x-messages"] as Json | undefined), ...Object.fromEntries(present) };
    },
  }) as Json;
  relaxDefaults(json);
  return { ...json, title };
}

/** Output mode marks defaulted fields required; a config file may leave them out. */
function relaxDefaults(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(relaxDefaults);
  if (!node || typeof node !== "object") return;
  const obj = node as Json;
  const props = obj.properties as Record<string, Json> | undefined;
  if (props && Array.isArray(obj.required)) {
    obj.required = (obj.required as string[]).filter((k) => !(props[k] && "default" in props[k]));
  }
  for (const value of Object.values(obj)) relaxDefaults(value);
}
