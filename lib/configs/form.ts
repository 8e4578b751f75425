// The Train form's state and its two translations: to the plain object runConfigSchema parses
// (Start, Save, Show command all go through it) and back from a stored config (Load, Clone).
// Pure: used by the client form and by the server actions alike.
import { z } from "zod";
import { FLAG_FIELDS, LORA_TARGETS, runConfigSchema, type RunConfig } from "@/lib/schemas/run-config";

export type Flag = (typeof FLAG_FIELDS)[number];
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface FormState {
  /** Text and select fields, as typed (numbers stay strings until zod names a bad one). */
  values: Record<string, string>;
  flags: Record<Flag, boolean>;
  targetAll: boolean;
  modules: LoraTarget[];
  datasets: string[];
}

/** The object runConfigSchema parses: exactly what the form's FormData becomes on Start. */
export function stateToInput(s: FormState): Record<string, unknown> {
  const out: Record<string, unknown> = { ...s.values };
  for (const f of FLAG_FIELDS) out[f] = s.flags[f];
  out.lora_target = s.targetAll ? "all" : [...s.modules];
  out.dataset = [...s.datasets];
  return out;
}

/** FormData of the Train form -> the same object as stateToInput. */
export function formDataToInput(form: FormData): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  for (const [key, value] of form.entries()) {
    if (key.startsWith("$ACTION")) continue;
    if (key === "dataset" || key === "lora_target_module" || key === "lora_target_all") continue;
    obj[key] = typeof value === "string" ? value : "";
  }
  obj.dataset = form.getAll("dataset").map(String);
  obj.lora_target = form.get("lora_target_all") === "on" ? "all" : form.getAll("lora_target_module").map(String);
  // An unchecked checkbox is absent from FormData: absent means false here, not "use the default".
  for (const f of FLAG_FIELDS) obj[f] = form.get(f) === "on";
  return obj;
}

/** Strings for the text fields of a config object (numbers as the user would type them). */
export function toValues(obj: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) if (typeof v === "number" || typeof v === "string") out[k] = String(v);
  return out;
}

export function toFlags(obj: Record<string, unknown>): Partial<Record<Flag, boolean>> {
  const out: Partial<Record<Flag, boolean>> = {};
  for (const f of FLAG_FIELDS) if (typeof obj[f] === "boolean") out[f] = obj[f] as boolean;
  return out;
}

/** A stored config laid over the current form state: fields it names replace, the rest stay. */
export function applyConfig(base: FormState, cfg: Partial<RunConfig>): FormState {
  const { dataset, lora_target, ...rest } = cfg;
  const values = { ...base.values, ...toValues(rest) };
  // Optional fields absent from the stored config mean "empty", not "keep what was typed".
  for (const k of ["max_steps", "moe_aux_loss_coef", "resume_from_checkpoint", "name"] as const) if (cfg[k] === undefined) values[k] = "";
  return {
    values,
    flags: { ...base.flags, ...toFlags(rest) },
    targetAll: lora_target === undefined ? base.targetAll : lora_target === "all",
    modules: Array.isArray(lora_target) ? [...lora_target] : base.modules,
    datasets: dataset ? [...dataset] : base.datasets,
  };
}

/**
 * A stored config (a job's or a saved one) read back leniently: every field that still parses is
 * kept, a field that no longer does (an option renamed, a value out of range) is dropped and named.
 */
export function readStoredConfig(json: string): { config: Partial<RunConfig>; dropped: string[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { config: {}, dropped: ["config"] };
  }
  const obj = z.record(z.string(), z.unknown()).safeParse(raw);
  if (!obj.success) return { config: {}, dropped: ["config"] };
  const shape = runConfigSchema.shape;
  const config: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const [k, v] of Object.entries(obj.data)) {
    if (!(k in shape)) continue; // paths the worker adds (dataset_dir, output_dir) are not form fields
    const r = (shape as Record<string, z.ZodType>)[k].safeParse(v);
    if (r.success) config[k] = r.data;
    else dropped.push(k);
  }
  return { config: config as Partial<RunConfig>, dropped };
}
