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
import { runConfigSchema } from "@/lib/schemas/run-config";
import { parseTrainRunDetails } from "@/lib/schemas/fast-path-options";
import { FastPathOptionsPanel } from "@/components/runs/FastPathOptionsPanel";
import { getT } from "@/lib/i18n/server";

export const dynamic = "force-dynamic";

export default async function RunPage({ params }: { params: Promise<{ id: string }> }) {
  const id = z.coerce.number().int().positive().safeParse((await params).id);
  if (!id.success) notFound();
  const [snapshot, job, t] = await Promise.all([loadJobSnapshot(id.data), findJob(id.data), getT()]);
  if (!snapshot || !job) notFound();
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
      <RunLive initial={snapshot} checkpoint={checkpoint ? path.basename(checkpoint) : null} />
      {details && <FastPathOptionsPanel options={details.fastPathOptions} t={t} />}
    </div>
  );
}
