// Validate an Export request (model inside the model roots, the adapter run, a new folder inside
// the export root) and queue a job of kind "export".
import fs from "node:fs";
import { env } from "@/lib/env";
import { resolveInside } from "@/lib/datasets/roots";
import { isDatasetError } from "@/lib/datasets/errors";
import { exportConfigSchema, type ExportTask } from "@/lib/schemas/export-config";
import type { Locale } from "@/lib/i18n/locales";
import { localized } from "@/lib/i18n/validation";
import { defaultName, enqueueTaskJob, type CreateTaskResult } from "./create-task-job";
import { checkModelAndAdapter, parseRequest } from "./request-checks";
import { exportsRoot } from "./exports-root";
import { queueFullReason } from "@/lib/security/queue-cap";
import { exportCard } from "./export-card";

/** locale: the language of the field errors (the form passes the UI's; JSON clients get English). */
export async function createExport(input: unknown, locale: Locale = "en"): Promise<CreateTaskResult> {
  return localized(await validateAndQueue(input, locale), locale);
}

async function validateAndQueue(input: unknown, locale: Locale): Promise<CreateTaskResult> {
  const parsed = parseRequest(exportConfigSchema, input, locale);
  if (!parsed.ok) return parsed;
  const { name, adapter_run, ...config } = parsed.value;
  const { modelRoots, runsDir } = env();

  const base = await checkModelAndAdapter(modelRoots, runsDir, config.model_name_or_path, adapter_run);
  if (!base.ok) return base;
  const { modelPath, adapterPath } = base.value;

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

  const full = await queueFullReason();
  if (full) return { ok: false, fieldErrors: {}, formError: full };

  const card = await exportCard(modelPath, adapter_run, adapterPath);
  const task: ExportTask = { ...config, model_name_or_path: modelPath, adapter_path: adapterPath, adapter_run: adapter_run ?? null, export_dir: exportDir, card };
  const job = await enqueueTaskJob({
    kind: "export",
    name: name?.trim() || defaultName("export", config.export_dir.replaceAll("/", "-")),
    config: task,
    modelPath,
    datasets: "",
  });
  return { ok: true, id: job.id };
}
