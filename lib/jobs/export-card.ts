// The model card facts of an export (README.md beside the exported model): what the database knows
// about the adapter's training run. The trainer renders them (tuneboard_trainer/model_card.py).
import fs from "node:fs";
import path from "node:path";
import { db } from "@/lib/db";
import { findIdentityCheck, findRunCardFacts } from "@/lib/data/runs";
import { evalResultSchema } from "@/lib/schemas/eval-config";
import type { ExportTask } from "@/lib/schemas/export-config";

type Card = NonNullable<ExportTask["card"]>;

// Training settings worth a row in the card's hyper-parameter table, when the run set them.
const HYPERPARAMETERS = [
  "learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
  "lr_scheduler_type", "warmup_steps", "cutoff_len", "lora_rank", "lora_alpha", "lora_dropout", "lora_target",
  "use_dora", "use_rslora", "seed",
] as const;

function scalar(v: unknown): string | number | boolean | undefined {
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.join(", ");
  return undefined;
}

/** The card for an export of `baseModelPath` (+ the adapter of run `runId`, trained into `adapterDir`). */
export async function exportCard(baseModelPath: string, runId: number | undefined, adapterDir: string | null): Promise<Card> {
  const card: Card = { base_model: path.basename(baseModelPath) };
  if (runId === undefined) return card;
  const job = await findRunCardFacts(runId);
  if (!job) return card;
  let config: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(job.config);
    if (parsed && typeof parsed === "object") config = parsed as Record<string, unknown>;
  } catch {
    // A run whose stored config is unreadable still gets a card with what the row has.
  }
  card.run_name = job.name;
  if (Array.isArray(config.dataset)) card.datasets = config.dataset.filter((d): d is string => typeof d === "string");
  if (typeof config.finetuning_type === "string") card.method = config.finetuning_type;
  if (typeof config.template === "string") card.template = config.template;
  const hp: Record<string, string | number | boolean> = {};
  for (const key of HYPERPARAMETERS) {
    const v = scalar(config[key]);
    if (v !== undefined) hp[key] = v;
  }
  card.hyperparameters = hp;
  if (job.finalLoss !== null) card.final_train_loss = job.finalLoss;
  if (job.finalEvalLoss !== null) card.final_eval_loss = job.finalEvalLoss;
  if (adapterDir && fs.existsSync(path.join(adapterDir, "training_loss.png"))) card.loss_plot = path.join(adapterDir, "training_loss.png");
  const metrics = await latestEvalMetrics(runId);
  if (metrics) card.eval_metrics = metrics;
  const check = await findIdentityCheck(runId);
  if (check) {
    card.identity_check = {
      name: check.name, author: check.author, questions: check.total, with_name: check.with_name,
      with_author: check.with_author, with_both: check.with_both, clean: check.clean,
      example_answer: check.example_answer, checked_at: check.checked_at,
    };
    if (check.system_prompt.trim()) card.system_prompt = check.system_prompt.trim();
  }
  return card;
}

const EVAL_METRICS = ["eval_loss", "perplexity", "predict_bleu-4", "predict_rouge-1", "predict_rouge-2", "predict_rouge-l"] as const;

/** The metrics of the newest succeeded evaluation of this run's adapter, or null when it has none. */
async function latestEvalMetrics(runId: number): Promise<Record<string, number> | null> {
  const evals = await db().job.findMany({
    where: { kind: "eval", status: "succeeded" },
    orderBy: { id: "desc" },
    select: { config: true, result: true },
    take: 200,
  });
  for (const e of evals) {
    let adapterRun: unknown;
    try {
      adapterRun = (JSON.parse(e.config) as { adapter_run?: unknown }).adapter_run;
    } catch {
      continue;
    }
    if (adapterRun !== runId || !e.result) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(e.result);
    } catch {
      continue;
    }
    const parsed = evalResultSchema.safeParse(raw);
    if (!parsed.success) continue;
    const out: Record<string, number> = {};
    for (const k of EVAL_METRICS) {
      const v = parsed.data.metrics[k];
      if (typeof v === "number") out[k] = v;
    }
    return out;
  }
  return null;
}
