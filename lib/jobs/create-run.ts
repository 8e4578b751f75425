// Validate a run request end to end (values, model directory, datasets and their records) and
// queue it. Nothing is created unless everything checks out; each error names its form field.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { env } from "@/lib/env";
import { resolveModelPath } from "@/lib/models";
import { runRequestSchemaWith, type DatasetKind, type RunConfig } from "@/lib/schemas/run-config";
import { datasetKinds } from "@/lib/datasets/stage-fit";
import { isDatasetError } from "@/lib/datasets/errors";
import { enqueueJob } from "@/lib/queue/enqueue";
import { queueFullReason } from "@/lib/security/queue-cap";
import type { Locale } from "@/lib/i18n/locales";
import { localized, translateMessage } from "@/lib/i18n/validation";
import { checkDatasets, checkModel, parseRequest } from "./request-checks";
import { checkContinuedRun } from "./continued-run";
import { gpuFitError } from "./gpu-fit";

export type FieldErrors = Partial<Record<string, string>>;
export type CreateRunResult = { ok: true; id: number } | { ok: false; fieldErrors: FieldErrors; formError?: string };

/** locale: the language of the field errors (the Train form passes the UI's; JSON clients get English). */
export async function createRun(input: unknown, locale: Locale = "en"): Promise<CreateRunResult> {
  // The model, dataset and checkpoint checks answer in English: translated here, in one place.
  return localized(await validateAndQueue(input, locale), locale);
}

async function validateAndQueue(input: unknown, locale: Locale): Promise<CreateRunResult> {
  const { modelRoots, dataDir } = env();
  const parsed = parseRequest(runRequestSchemaWith(await kindsOrNone(dataDir)), input, locale);
  if (!parsed.ok) return parsed;
  const config: RunConfig = parsed.value;

  const model = checkModel(modelRoots, config.model_name_or_path);
  if (!model.ok) return model;
  const modelPath = model.value;
  const datasets = await checkDatasets(dataDir, config.dataset);
  if (!datasets.ok) return datasets;

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

  if (config.continue_from_run !== undefined) {
    if (resumeFrom) return { ok: false, fieldErrors: { resume_from_checkpoint: "a continued run starts from the earlier run's final state: leave this empty" } };
    const parent = await checkContinuedRun(env().runsDir, config.continue_from_run);
    if (!parent.ok) return parent;
  }

  const noFit = await gpuFitError(modelPath, config);
  if (noFit) return { ok: false, fieldErrors: {}, formError: translateMessage(noFit, locale) };

  const full = await queueFullReason();
  if (full) return { ok: false, fieldErrors: {}, formError: full };

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

/** Every registered dataset's kind; none when the registry cannot be read (checkDatasets then says why). */
async function kindsOrNone(dataDir: string): Promise<Record<string, DatasetKind>> {
  try {
    return await datasetKinds(dataDir);
  } catch (err) {
    if (isDatasetError(err)) return {};
    throw err;
  }
}

export const createRunBody = z.record(z.string(), z.unknown());
