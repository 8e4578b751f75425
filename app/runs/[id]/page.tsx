// The Run page. The run is looked up before anything streams and outside every loading
// boundary (this route has no loading.tsx above it), so an unknown run answers HTTP 404 with
// not-found.tsx: once a Suspense fallback has been sent, the status is committed to 200. The
// rest of the page (history, checkpoint) streams in under its own Suspense boundary.
import { Suspense } from "react";
import { notFound } from "next/navigation";
import Link from "next/link";
import path from "node:path";
import { z } from "zod";
import { loadJobSnapshot } from "@/lib/jobs/snapshot";
import { jobNumber } from "@/lib/jobs/job-number";
import { latestCheckpoint } from "@/lib/jobs/checkpoints";
import { RunLive } from "@/components/RunLive";
import { findJob } from "@/lib/data/runs";
import { env } from "@/lib/env";
import { needsReference, runConfigSchema } from "@/lib/schemas/run-config";
import { offersPreferenceTraining } from "@/lib/jobs/preference-start";
import { TRAIN_KIND } from "@/lib/jobs/list";
import { parseTrainRunDetails } from "@/lib/schemas/fast-path-options";
import { FastPathOptionsPanel } from "@/components/runs/FastPathOptionsPanel";
import { getT } from "@/lib/i18n/server";
import { Loading } from "@/components/Loading";
import { findContinuations, loadEarlierRuns } from "@/lib/jobs/continued-run";
import { ContinueTraining } from "@/components/runs/ContinueTraining";
import { RunLineage } from "@/components/runs/RunLineage";

export const dynamic = "force-dynamic";

export default async function RunPage({ params }: { params: Promise<{ id: string }> }) {
  const id = z.coerce.number().int().positive().safeParse((await params).id);
  if (!id.success) notFound();
  const job = await findJob(id.data);
  if (!job) notFound();
  return (
    <Suspense fallback={<Loading what="run" />}>
      <RunView job={job} />
    </Suspense>
  );
}

type Job = NonNullable<Awaited<ReturnType<typeof findJob>>>;

async function RunView({ job }: { job: Job }) {
  const [snapshot, t] = await Promise.all([loadJobSnapshot(job.id), getT()]);
  if (!snapshot) notFound(); // deleted between the two reads
  let stored: unknown = null;
  try {
    stored = JSON.parse(job.config);
  } catch {
    // shown without the settings line
  }
  const config = runConfigSchema.safeParse(stored);
  const details = job.kind === "train" ? parseTrainRunDetails(job.result) : null;
  // Where Resume would continue: the worker picks the same folder (worker/run-job.ts).
  const checkpoint = latestCheckpoint(job.outputDir ?? path.join(env().runsDir, `run-${job.id}`));
  const train = job.kind === "train";
  const [earlier, continuations] = train ? await Promise.all([loadEarlierRuns(job.config), findContinuations(job.id)]) : [null, []];
  const earlierSteps = earlier?.curve.points.map((p) => p.step) ?? [];
  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h1 className="text-xl font-semibold break-words">{t("runs.run.title", { id: jobNumber(job), name: job.name })}</h1>
        <div className="flex gap-4 text-sm">
          <Link href={`/train?from=${job.id}`} className="text-indigo-700 hover:underline" data-testid={`clone-${job.id}`}>
            {t("runs.run.clone")}
          </Link>
          <Link href={`/chat?run=${job.id}`} className="text-indigo-700 hover:underline">
            {t("runs.run.chat")}
          </Link>
        </div>
      </div>
      <p className="text-sm text-slate-600" data-testid="run-summary">
        {job.modelPath.split("/").at(-1)} · {job.datasets}
        {config.success &&
          ` · ${t("runs.run.config", {
            lr: config.data.learning_rate,
            epochs: config.data.num_train_epochs,
            batch: config.data.per_device_train_batch_size,
            accum: config.data.gradient_accumulation_steps,
            method:
              config.data.finetuning_type === "lora"
                ? `LoRA r${config.data.lora_rank}/α${config.data.lora_alpha}`
                : t(`runs.method.${config.data.finetuning_type}`),
          })}`}
        {config.success && config.data.stage !== "sft" && (
          <span data-testid="run-stage">
            {" "}· {config.data.stage}
            {config.data.stage === "dpo" && ` (${config.data.pref_loss}, β ${config.data.pref_beta})`}
          </span>
        )}
        {job.numGpus >= 1 && (
          <span data-testid="run-gpus"> · {job.numGpus === 1 ? t("runs.gpus.one") : t("runs.gpus.many", { n: job.numGpus })}</span>
        )}
      </p>
      {job.kind !== "train" && (
        // Eval and export jobs (linked from the Workers page) show their progress here; their
        // results live on the Evaluate page.
        <p className="card text-sm text-slate-700" data-testid="task-job-note">
          {t("runs.run.taskJob", { kind: job.kind })}{" "}
          <Link href="/evaluate" className="text-indigo-700 hover:underline">
            {t("runs.run.taskJobLink")}
          </Link>
        </p>
      )}
      {config.success && (config.data.stage === "dpo" || config.data.stage === "kto") && (
        <p className="text-sm text-slate-700" data-testid="run-reference">
          {!needsReference(config.data)
            ? t("runs.stage.referenceNone", { loss: config.data.pref_loss })
            : earlier
              ? t("runs.stage.referenceSft", { number: earlier.number })
              : t("runs.stage.referenceBase")}
        </p>
      )}
      {train && job.status === "succeeded" && (
        <div className="flex flex-wrap items-start gap-2">
          <ContinueTraining runId={job.id} />
          {offersPreferenceTraining(job, TRAIN_KIND) && (
            <Link href={`/train?prefer=${job.id}`} className="btn btn-secondary" data-testid="continue-preference">
              {t("runs.lifecycle.continuePreference")}
            </Link>
          )}
        </div>
      )}
      <RunLineage
        t={t}
        earlier={earlier && { id: earlier.id, number: earlier.number, name: earlier.name, fromStep: earlierSteps[0] ?? null, toStep: earlierSteps.at(-1) ?? null }}
        continuations={continuations}
        stoppedEarly={details?.stoppedEarly ?? null}
      />
      <RunLive initial={snapshot} number={jobNumber(job)} name={job.name} checkpoint={checkpoint ? path.basename(checkpoint) : null} earlier={earlier?.curve ?? null} />
      {details?.fastPathOptions && <FastPathOptionsPanel options={details.fastPathOptions} t={t} />}
    </div>
  );
}
