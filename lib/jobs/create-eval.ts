// Validate an Evaluate & Predict request end to end (values, model inside the model roots, the
// adapter run, every dataset and its records) and queue a job of kind "eval".
import { env } from "@/lib/env";
import { evalConfigSchema, type EvalTask } from "@/lib/schemas/eval-config";
import type { Locale } from "@/lib/i18n/locales";
import { localized } from "@/lib/i18n/validation";
import { defaultName, enqueueTaskJob, type CreateTaskResult } from "./create-task-job";
import { checkDatasets, checkModelAndAdapter, parseRequest } from "./request-checks";
import { queueFullReason } from "@/lib/security/queue-cap";

/** locale: the language of the field errors (the form passes the UI's; JSON clients get English). */
export async function createEval(input: unknown, locale: Locale = "en"): Promise<CreateTaskResult> {
  return localized(await validateAndQueue(input, locale), locale);
}

async function validateAndQueue(input: unknown, locale: Locale): Promise<CreateTaskResult> {
  const parsed = parseRequest(evalConfigSchema, input, locale);
  if (!parsed.ok) return parsed;
  const { name, adapter_run, ...config } = parsed.value;
  const { modelRoots, dataDir, runsDir } = env();

  const base = await checkModelAndAdapter(modelRoots, runsDir, config.model_name_or_path, adapter_run);
  if (!base.ok) return base;
  const { modelPath, adapterPath } = base.value;
  const datasets = await checkDatasets(dataDir, config.dataset);
  if (!datasets.ok) return datasets;

  const full = await queueFullReason();
  if (full) return { ok: false, fieldErrors: {}, formError: full };

  const task: EvalTask = { ...config, model_name_or_path: modelPath, adapter_path: adapterPath, adapter_run: adapter_run ?? null };
  const job = await enqueueTaskJob({
    kind: "eval",
    name: name?.trim() || defaultName("eval", adapter_run ? `run${adapter_run}` : "base"),
    config: task,
    modelPath,
    datasets: config.dataset.join(", "),
  });
  return { ok: true, id: job.id };
}
