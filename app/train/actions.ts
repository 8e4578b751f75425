"use server";
import { redirect } from "next/navigation";
import { createRun, type FieldErrors } from "@/lib/jobs/create-run";
import { FLAG_FIELDS } from "@/lib/schemas/run-config";

export interface TrainFormState {
  fieldErrors: FieldErrors;
  formError?: string;
  values?: Record<string, unknown>;
}

/** FormData -> the plain object the run schema parses (numbers stay strings: zod names bad ones). */
function formToObject(form: FormData): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  for (const [key, value] of form.entries()) {
    if (key.startsWith("$ACTION")) continue;
    if (key === "dataset" || key === "lora_target_module") continue;
    obj[key] = typeof value === "string" ? value : "";
  }
  obj.dataset = form.getAll("dataset").map(String);
  obj.lora_target = form.get("lora_target_all") === "on" ? "all" : form.getAll("lora_target_module").map(String);
  delete obj.lora_target_all;
  // An unchecked checkbox is absent from FormData: absent means false here, not "use the default".
  for (const f of FLAG_FIELDS) obj[f] = form.get(f) === "on";
  return obj;
}

export async function startRun(_prev: TrainFormState, form: FormData): Promise<TrainFormState> {
  const values = formToObject(form);
  const result = await createRun(values);
  if (!result.ok) return { fieldErrors: result.fieldErrors, formError: result.formError, values };
  redirect(`/runs/${result.id}`);
}
