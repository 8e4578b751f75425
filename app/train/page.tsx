import path from "node:path";
import { env } from "@/lib/env";
import { findCloneSource, findJob } from "@/lib/data/runs";
import { offersPreferenceTraining, preferenceStartConfig } from "@/lib/jobs/preference-start";
import { TRAIN_KIND } from "@/lib/jobs/list";
import { jobNumber } from "@/lib/jobs/job-number";
import type { StartFrom } from "@/components/TrainForm";
import { listModels } from "@/lib/models";
import { listDatasets } from "@/lib/datasets/registry";
import { TrainForm, type CloneInfo } from "@/components/TrainForm";
import { DEFAULT_RUN_CONFIG } from "@/lib/schemas/run-config";
import { listSavedConfigs } from "@/lib/configs/saved";
import { readStoredConfig } from "@/lib/configs/form";
import type { CommandPaths } from "@/lib/configs/command";
import { trainerCommand } from "@/lib/trainer/command";
import { getT } from "@/lib/i18n/server";
import { listWorkersForPanel } from "@/lib/queue/workers";

export const dynamic = "force-dynamic";

/** ?from=<job id>: that run's stored config prefills the form (Clone on the Runs pages). */
async function cloneSource(from: string | string[] | undefined): Promise<CloneInfo | null> {
  if (typeof from !== "string" || !/^\d{1,9}$/.test(from)) return null;
  const id = Number(from);
  const job = await findCloneSource(id);
  if (!job) return { id, number: null, name: null, config: null, dropped: [] };
  const { config, dropped } = readStoredConfig(job.config);
  // A clone is a fresh run with the same settings: it does not continue the source's checkpoint.
  delete config.resume_from_checkpoint;
  delete config.continue_from_run;
  config.name = `${job.name} (copy)`.slice(0, 80);
  return { id, number: jobNumber(job), name: job.name, config, dropped };
}

/** ?prefer=<job id>: a DPO run that starts from that finished SFT run (Continue with preference training). */
async function preferenceSource(prefer: string | string[] | undefined): Promise<{ clone: CloneInfo; startFrom: StartFrom } | null> {
  if (typeof prefer !== "string" || !/^\d{1,9}$/.test(prefer)) return null;
  const id = Number(prefer);
  const job = await findJob(id);
  if (!job || !offersPreferenceTraining(job, TRAIN_KIND)) return { clone: { id, number: null, name: null, config: null, dropped: [] }, startFrom: { id, number: id, name: "" } };
  return {
    clone: { id, number: jobNumber(job), name: job.name, config: preferenceStartConfig(job), dropped: [] },
    startFrom: { id, number: jobNumber(job), name: job.name },
  };
}

export default async function TrainPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { modelRoots, dataDir, runsDir, python, root } = env();
  const t = await getT();
  const models = listModels(modelRoots).map((m) => ({
    path: m.path,
    name: m.name,
    demo: m.demo,
    description: m.description,
    architecture: m.architecture,
    layers: m.layers,
    hiddenSize: m.hiddenSize,
    contextLength: m.contextLength,
    vocabSize: m.vocabSize,
    shape: m.shape,
    parameterCount: m.parameterCount,
    parameterSource: m.parameterSource,
    activeParameterCount: m.activeParameterCount,
    weightDtype: m.weightDtype,
    templateGuess: m.templateGuess,
    preset: m.preset,
  }));
  const datasets = (await listDatasets(dataDir)).map((d) => ({
    name: d.name,
    records: d.records,
    hasPlaceholders: d.hasPlaceholders,
    error: d.error ?? null,
    kind: d.kind,
  }));
  const params = await searchParams;
  const [saved, copied, preference, workers] = await Promise.all([
    listSavedConfigs(),
    cloneSource(params.from),
    preferenceSource(params.prefer),
    listWorkersForPanel(),
  ]);
  const clone = preference?.clone ?? copied;
  // The GPUs field's hint: what the largest online worker advertises (as on the Workers page).
  const online = workers.filter((w) => w.online);
  const maxWorkerGpus = online.length === 0 ? null : Math.max(...online.map((w) => w.gpus.length));

  // "Show command": a fresh output folder named like LlamaBoard's train_<date-time>.
  const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
  const outputDir = path.join(runsDir, `manual-${stamp}`);
  const configPath = path.join(outputDir, "tuneboard_config.json");
  const args = ["train", "--config", configPath];
  const cmd = trainerCommand(python, root, args);
  const command: CommandPaths = {
    root,
    python: cmd.command,
    args,
    pythonPath: String(cmd.env.PYTHONPATH),
    configPath,
    outputDir,
    dataDir,
  };

  return (
    <div className="space-y-4">
      <div>
        <h1 className="text-xl font-semibold">{t("train.title")}</h1>
        <p className="text-sm text-slate-600">{t("train.intro")}</p>
      </div>
      <TrainForm
        models={models}
        datasets={datasets}
        defaults={DEFAULT_RUN_CONFIG}
        modelRoots={modelRoots}
        saved={saved}
        clone={clone}
        command={command}
        maxWorkerGpus={maxWorkerGpus}
        startFrom={preference?.startFrom ?? null}
      />
    </div>
  );
}
