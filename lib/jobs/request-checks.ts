// The checks every "queue a job" request starts with (createRun, createEval, createExport): the
// body through its zod schema, the model inside the model roots, the datasets and their records,
// the adapter run. Each answers with the value or the form field at fault, so a caller stops at
// the first failure with `if (!x.ok) return x;`.
import type { z } from "zod";
import { inspectModel, ModelPathError, resolveModelPath } from "@/lib/models";
import { loadDataset } from "@/lib/datasets/registry";
import { isDatasetError } from "@/lib/datasets/errors";
import { AdapterRunError, resolveAdapterRun } from "./adapter-runs";
import { fieldErrorsOf, type FieldErrors } from "./create-task-job";
import type { Locale } from "@/lib/i18n/locales";
import { safeParseIn } from "@/lib/i18n/validation";

export type Checked<T> = { ok: true; value: T } | { ok: false; fieldErrors: FieldErrors };

const refuse = (field: string, message: string): { ok: false; fieldErrors: FieldErrors } => ({ ok: false, fieldErrors: { [field]: message } });

/** The request body through its schema: one message per field (the first issue of each), in the UI's language. */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown, locale: Locale = "en"): Checked<z.output<S>> {
  const parsed = safeParseIn(schema, input, locale);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, fieldErrors: fieldErrorsOf(parsed.error) };
}

/** The model directory: resolved inside the model roots and readable as a model. */
export function checkModel(modelRoots: string[], name: string): Checked<string> {
  try {
    const modelPath = resolveModelPath(modelRoots, name);
    inspectModel(modelPath);
    return { ok: true, value: modelPath };
  } catch (err) {
    if (err instanceof ModelPathError) return refuse("model_name_or_path", err.message);
    throw err;
  }
}

/** Every dataset registered, readable, and with at least one record (field "dataset"). */
export async function checkDatasets(dataDir: string, names: string[]): Promise<Checked<null>> {
  for (const name of names) {
    try {
      const ds = await loadDataset(dataDir, name, "dataset");
      if (ds.records.length === 0) return refuse("dataset", `dataset "${name}" has no records`);
    } catch (err) {
      if (isDatasetError(err)) return refuse("dataset", err.message);
      throw err;
    }
  }
  return { ok: true, value: null };
}

/** The adapter of a succeeded training run (field "adapter_run"); no run: the base model (null). */
export async function checkAdapterRun(runsDir: string, run: number | undefined): Promise<Checked<string | null>> {
  if (run === undefined) return { ok: true, value: null };
  try {
    return { ok: true, value: (await resolveAdapterRun(runsDir, run)).adapterDir };
  } catch (err) {
    if (err instanceof AdapterRunError) return refuse("adapter_run", err.message);
    throw err;
  }
}

/** A base model plus an optional adapter run (Evaluate, Export): both checked, model first. */
export async function checkModelAndAdapter(
  modelRoots: string[],
  runsDir: string,
  name: string,
  run: number | undefined,
): Promise<Checked<{ modelPath: string; adapterPath: string | null }>> {
  const model = checkModel(modelRoots, name);
  if (!model.ok) return model;
  const adapter = await checkAdapterRun(runsDir, run);
  if (!adapter.ok) return adapter;
  return { ok: true, value: { modelPath: model.value, adapterPath: adapter.value } };
}
