// Validate an Export request (model inside the model roots, the adapter run, a new folder inside
// the export root) and queue a job of kind "export".
import fs from "node:fs";
import { env } from "@/lib/env";
import { inspectModel, ModelPathError, resolveModelPath } from "@/lib/models";
import { resolveInside } from "@/lib/datasets/roots";
import { isDatasetError } from "@/lib/datasets/errors";
import { exportConfigSchema, type ExportTask } from "@/lib/schemas/export-config";
import { AdapterRunError, resolveAdapterRun } from "./adapter-runs";
import { defaultName, enqueueTaskJob, fieldErrorsOf, type CreateTaskResult } from "./create-task-job";
import { exportsRoot } from "./exports-root";

export async function createExport(input: unknown): Promise<CreateTaskResult> {
  const parsed = exportConfigSchema.safeParse(input);
  if (!parsed.success) return { ok: false, fieldErrors: fieldErrorsOf(parsed.error) };
  const { name, adapter_run, ...config } = parsed.data;
  const { modelRoots, runsDir } = env();

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

  const root = exportsRoot();
  fs.mkdirSync(root, { recursive: true });
  let exportDir: string;
  try {
    exportDir = await resolveInside(root, config.export_dir, "export_dir");
  } catch (err) {
    if (isDatasetError(err)) return { ok: false, fieldErrors: { export_dir: err.message.replace("data directory", "export root") } };
    throw err;
  }
  if (fs.existsSync(exportDir) && fs.readdirSync(exportDir).length > 0) {
    return { ok: false, fieldErrors: { export_dir: `${config.export_dir} already exists in the export root and is not empty` } };
  }

  const task: ExportTask = { ...config, model_name_or_path: modelPath, adapter_path: adapterPath, adapter_run: adapter_run ?? null, export_dir: exportDir };
  const job = await enqueueTaskJob({
    kind: "export",
    name: name?.trim() || defaultName("export", config.export_dir.replaceAll("/", "-")),
    config: task,
    modelPath,
    datasets: "",
  });
  return { ok: true, id: job.id };
}
