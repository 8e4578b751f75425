// Train form configurations saved by name (table SavedConfig). Saving validates the whole config
// like Start does (errors come back per field); saving under an existing name updates it.
import { z } from "zod";
import { db } from "@/lib/db";
import { runConfigSchema, type RunConfig } from "@/lib/schemas/run-config";
import type { Locale } from "@/lib/i18n/locales";
import { safeParseIn } from "@/lib/i18n/validation";
import { fieldErrorsFromZod } from "@/lib/forms/field-errors";
import { readStoredConfig } from "./form";

export const configName = z.string().trim().min(1, "give the configuration a name").max(80, "80 characters at most");

export interface SavedConfigSummary {
  name: string;
  updatedAt: string;
}

export type SaveResult =
  | { ok: true; name: string; created: boolean }
  | { ok: false; fieldErrors: Partial<Record<string, string>> };

export async function listSavedConfigs(): Promise<SavedConfigSummary[]> {
  const rows = await db().savedConfig.findMany({ orderBy: { name: "asc" }, select: { name: true, updatedAt: true } });
  return rows.map((r) => ({ name: r.name, updatedAt: r.updatedAt.toISOString() }));
}

export async function saveConfig(nameInput: unknown, input: unknown, locale: Locale = "en"): Promise<SaveResult> {
  const name = safeParseIn(configName, nameInput, locale);
  const parsed = safeParseIn(runConfigSchema, input, locale);
  const fieldErrors: Partial<Record<string, string>> = {};
  if (!name.success) fieldErrors.saved_name = name.error.issues[0]?.message;
  if (!parsed.success) Object.assign(fieldErrors, fieldErrorsFromZod(parsed.error));
  if (!name.success || !parsed.success) return { ok: false, fieldErrors };
  const config = JSON.stringify(parsed.data satisfies RunConfig);
  const existing = await db().savedConfig.findUnique({ where: { name: name.data }, select: { id: true } });
  await db().savedConfig.upsert({ where: { name: name.data }, create: { name: name.data, config }, update: { config } });
  return { ok: true, name: name.data, created: !existing };
}

export async function loadSavedConfig(nameInput: unknown): Promise<{ config: Partial<RunConfig>; dropped: string[] } | null> {
  const name = configName.safeParse(nameInput);
  if (!name.success) return null;
  const row = await db().savedConfig.findUnique({ where: { name: name.data } });
  return row ? readStoredConfig(row.config) : null;
}

export async function deleteSavedConfig(nameInput: unknown): Promise<boolean> {
  const name = configName.safeParse(nameInput);
  if (!name.success) return false;
  const r = await db().savedConfig.deleteMany({ where: { name: name.data } });
  return r.count > 0;
}
