"use server";
import { redirect } from "next/navigation";
import { createRun, type FieldErrors } from "@/lib/jobs/create-run";
import { formDataToInput } from "@/lib/configs/form";
import { deleteSavedConfig, listSavedConfigs, loadSavedConfig, saveConfig, type SavedConfigSummary } from "@/lib/configs/saved";
import type { RunConfig } from "@/lib/schemas/run-config";
import { getLocale } from "@/lib/i18n/server";

export interface TrainFormState {
  fieldErrors: FieldErrors;
  formError?: string;
  values?: Record<string, unknown>;
}

export async function startRun(_prev: TrainFormState, form: FormData): Promise<TrainFormState> {
  const values = formDataToInput(form);
  const result = await createRun(values, await getLocale());
  if (!result.ok) return { fieldErrors: result.fieldErrors, formError: result.formError, values };
  redirect(`/runs/${result.id}`);
}

// Saved configurations. The arguments come from the browser: saveConfig and the others parse
// them with zod (name, and the whole run config as Start would).
export type SaveConfigResult =
  | { ok: true; name: string; created: boolean; list: SavedConfigSummary[] }
  | { ok: false; fieldErrors: FieldErrors };

export async function saveConfigAction(name: unknown, input: unknown): Promise<SaveConfigResult> {
  const r = await saveConfig(name, input, await getLocale());
  if (!r.ok) return r;
  return { ...r, list: await listSavedConfigs() };
}

export async function loadConfigAction(name: unknown): Promise<{ config: Partial<RunConfig>; dropped: string[] } | null> {
  return loadSavedConfig(name);
}

export async function deleteConfigAction(name: unknown): Promise<{ deleted: boolean; list: SavedConfigSummary[] }> {
  const deleted = await deleteSavedConfig(name);
  return { deleted, list: await listSavedConfigs() };
}
