// Form strings -> validated generation parameters (lib/schemas/socket.ts generationParams), with a
// localized message per field that failed.
import { generationParams, type GenerationParams } from "@/lib/schemas/socket";
import type { TFunction } from "@/lib/i18n/translate";
import type { SettingsForm } from "./store";

type Field = Exclude<keyof SettingsForm, "system">;
const RANGES: Record<Exclude<Field, "seed">, { min: number; max: number; int: boolean }> = {
  max_new_tokens: { min: 1, max: 8192, int: true },
  temperature: { min: 0, max: 5, int: false },
  top_p: { min: 0, max: 1, int: false },
  top_k: { min: 0, max: 1000, int: true },
  repetition_penalty: { min: 1, max: 2, int: false },
};

const num = (s: string) => (s.trim() === "" ? Number.NaN : Number(s.trim()));

export function parseSettings(
  form: SettingsForm,
  t: TFunction,
): { ok: true; params: GenerationParams } | { ok: false; errors: Partial<Record<Field, string>> } {
  const parsed = generationParams.safeParse({
    max_new_tokens: num(form.max_new_tokens),
    temperature: num(form.temperature),
    top_p: num(form.top_p),
    top_k: num(form.top_k),
    repetition_penalty: num(form.repetition_penalty),
    seed: form.seed.trim() === "" ? null : num(form.seed),
  });
  if (parsed.success) return { ok: true, params: parsed.data };
  const errors: Partial<Record<Field, string>> = {};
  for (const issue of parsed.error.issues) {
    const field = issue.path[0] as Field;
    if (field === "seed") errors.seed = t("chat.settings.invalidSeed");
    else if (field in RANGES) {
      const r = RANGES[field];
      errors[field] = t(r.int ? "chat.settings.invalidInt" : "chat.settings.invalid", { min: r.min, max: r.max });
    }
  }
  return { ok: false, errors };
}
