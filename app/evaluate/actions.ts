"use server";
import { redirect } from "next/navigation";
import { createEval } from "@/lib/jobs/create-eval";
import { createExport } from "@/lib/jobs/create-export";
import type { FieldErrors } from "@/lib/jobs/create-task-job";
import { EVAL_FLAG_FIELDS } from "@/lib/schemas/eval-config";
import { getLocale } from "@/lib/i18n/server";

export interface TaskFormState {
  fieldErrors: FieldErrors;
  formError?: string;
}

/** FormData -> the plain object the zod schemas parse (numbers stay strings: zod names bad ones). */
function formToObject(form: FormData, flags: readonly string[] = []): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  for (const [key, value] of form.entries()) {
    if (key.startsWith("$ACTION") || key === "dataset") continue;
    obj[key] = typeof value === "string" ? value : "";
  }
  if (form.has("dataset") || flags.length) obj.dataset = form.getAll("dataset").map(String);
  // An unchecked checkbox is absent from FormData: absent means false, not "use the default".
  for (const f of flags) obj[f] = form.get(f) === "on";
  return obj;
}

export async function startEval(_prev: TaskFormState, form: FormData): Promise<TaskFormState> {
  const result = await createEval(formToObject(form, EVAL_FLAG_FIELDS), await getLocale());
  if (!result.ok) return { fieldErrors: result.fieldErrors, formError: result.formError };
  redirect(`/evaluate?tab=eval&job=${result.id}`);
}

export async function startExport(_prev: TaskFormState, form: FormData): Promise<TaskFormState> {
  const result = await createExport(formToObject(form), await getLocale());
  if (!result.ok) return { fieldErrors: result.fieldErrors, formError: result.formError };
  redirect(`/evaluate?tab=export&job=${result.id}`);
}
