// Validate an Evaluate & Predict request end to end (values, model inside the model roots, the
// adapter run, every dataset and its records) and queue a job of kind "eval".
import { env } from "@/lib/env";
import { inspectModel, ModelPathError, resolveModelPath } from "@/lib/models";
import { loadDataset } from "@/lib/datasets/registry";
import { isDatasetError } from "@/lib/datasets/errors";
import { evalConfigSchema, type EvalTask } from "@/lib/schemas/eval-config";
import { AdapterRunError, resolveAdapterRun } from "./adapter-runs";
import { defaultName, enqueueTaskJob, fieldErrorsOf, type CreateTaskResult } from "./create-task-job";

export async function createEval(input: unknown): Promise<CreateTaskResult> {
  const parsed = evalConfigSchema.safeParse(input);
  if (!parsed.success) return { ok: false, fieldErrors: fieldErrorsOf(parsed.error) };
  const { name, adapter_run, ...config } = parsed.data;
  const { modelRoots, dataDir, runsDir } = env();

  let modelPath: string;
  try {
    modelPath = resolveModelPath(modelRoots, config.model_name_or_path);
    inspectModel(modelPath);
  } catch (err) {
    if (err instanceof ModelPathError) return { ok: false, fieldErrors: { model_name_or_path: err.message } };
    throw err;
  }
  let adapterPath: string | null = null;
  if (adapter_run !== undefined) {
    try {
      adapterPath = (await resolveAdapterRun(runsDir, adapter_run)).adapterDir;
    } catch (err) {
      if (err instanceof AdapterRunError) return { ok: false, fieldErrors: { adapter_run: err.message } };
      throw err;
    }
  }
  for (const ds of config.dataset) {
    try {
      const loaded = await loadDataset(dataDir, ds, "dataset");
      if (loaded.records.length === 0) return { ok: false, fieldErrors: { dataset: `dataset "${ds}" has no records` } };
    } catch (err) {
      if (isDatasetError(err)) return { ok: false, fieldErrors: { dataset: err.message } };
      throw err;
    }
  }

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
