// Validate a run request end to end (values, model directory, datasets and their records) and
// queue it. Nothing is created unless everything checks out; each error names its form field.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { env } from "@/lib/env";
import { inspectModel, ModelPathError, resolveModelPath } from "@/lib/models";
import { loadDataset } from "@/lib/datasets/registry";
import { isDatasetError } from "@/lib/datasets/errors";
import { runConfigSchema, type RunConfig } from "@/lib/schemas/run-config";
import { enqueueJob } from "@/lib/queue/enqueue";

export type FieldErrors = Partial<Record<string, string>>;
export type CreateRunResult = { ok: true; id: number } | { ok: false; fieldErrors: FieldErrors; formError?: string };

export async function createRun(input: unknown): Promise<CreateRunResult> {
  const parsed = runConfigSchema.safeParse(input);
  if (!parsed.success) {
    const fieldErrors: FieldErrors = {};
    for (const issue of parsed.error.issues) {
      const field = String(issue.path[0] ?? "form");
      fieldErrors[field] ??= issue.message;
    }
    return { ok: false, fieldErrors };
  }
  const config: RunConfig = parsed.data;
  const { modelRoots, dataDir } = env();

  let modelPath: string;
  try {
    modelPath = resolveModelPath(modelRoots, config.model_name_or_path);
    inspectModel(modelPath);
  } catch (err) {
    if (err instanceof ModelPathError) return { ok: false, fieldErrors: { model_name_or_path: err.message } };
    throw err;
  }

  for (const name of config.dataset) {
    try {
      const ds = await loadDataset(dataDir, name, "dataset");
      if (ds.records.length === 0) return { ok: false, fieldErrors: { dataset: `dataset "${name}" has no records` } };
    } catch (err) {
      if (isDatasetError(err)) return { ok: false, fieldErrors: { dataset: err.message } };
      throw err;
    }
  }

  let resumeFrom: string | undefined;
  if (config.resume_from_checkpoint) {
    try {
      resumeFrom = resolveModelPath([env().runsDir], config.resume_from_checkpoint);
    } catch {
      return { ok: false, fieldErrors: { resume_from_checkpoint: `not a checkpoint under the runs folder (${env().runsDir})` } };
    }
    if (!fs.existsSync(path.join(resumeFrom, "trainer_state.pt"))) {
      return { ok: false, fieldErrors: { resume_from_checkpoint: "this folder has no trainer_state.pt: not a checkpoint" } };
    }
  }

  const stored = { ...config, model_name_or_path: modelPath, resume_from_checkpoint: resumeFrom };
  const name = config.name?.trim() || `${config.dataset.join("+")}-${new Date().toISOString().slice(0, 16).replace("T", "-")}`;
  const job = await enqueueJob({
    name,
    config: JSON.stringify(stored),
    modelPath,
    datasets: config.dataset.join(", "),
    // Only a worker with at least this many GPUs claims the job (lib/queue/claim.ts).
    numGpus: config.num_gpus,
  });
  return { ok: true, id: job.id };
}

export const createRunBody = z.record(z.string(), z.unknown());
