// The trainer -> worker event protocol (v1): one JSON object per line on the trainer's stdout.
// The Python twin lives in worker/trainer/tuneboard_trainer/events.py; both sides are checked
// against the same fixture (lib/schemas/fixtures/trainer-events.jsonl).
import { z } from "zod";
import { fastPathOptionsSchema } from "./fast-path-options";
import { stoppedEarlySchema } from "./stopped-early";

const base = { v: z.literal(1), time: z.number() };
const finite = z.number().finite();

export const startedEvent = z.object({
  ...base,
  type: z.literal("started"),
  total_steps: z.number().int().nonnegative(),
  num_samples: z.number().int().nonnegative(),
  num_epochs: finite,
  trainable_params: z.number().int().nonnegative(),
  total_params: z.number().int().nonnegative(),
  device: z.string(),
  dtype: z.string(),
  output_dir: z.string(),
  num_eval_samples: z.number().int().nonnegative().optional(),
  fast_path_options: fastPathOptionsSchema.optional(),
});

export const logEvent = z.object({
  ...base,
  type: z.literal("log"),
  level: z.enum(["info", "warning", "error"]),
  message: z.string(),
});

/**
 * What the preference and reward stages log beside the loss, under TRL's / LLaMA-Factory's names
 * (dpo/orpo/simpo: rewards and log-probs of the chosen and rejected answers; kto: the KL term;
 * rm: accuracy and the rewards of its value head). Means over the samples since the last step event.
 */
export const STAGE_METRICS = [
  "rewards/chosen",
  "rewards/rejected",
  "rewards/margins",
  "rewards/accuracies",
  "logps/chosen",
  "logps/rejected",
  "kl",
  "accuracy",
] as const;
export type StageMetric = (typeof STAGE_METRICS)[number];
export const stageMetricsSchema = z
  .object(Object.fromEntries(STAGE_METRICS.map((k) => [k, finite.optional()])) as Record<StageMetric, z.ZodOptional<typeof finite>>)
  .strict();
export type StageMetrics = z.infer<typeof stageMetricsSchema>;

export const stepEvent = z.object({
  ...base,
  type: z.literal("step"),
  step: z.number().int().positive(),
  total_steps: z.number().int().positive(),
  epoch: finite,
  // JSON has no NaN: a diverged step reports loss null, which the chart shows as a gap.
  loss: z.number().nullable(),
  lr: finite,
  grad_norm: z.number().nullable(),
  tokens: z.number().int().nonnegative(),
  tokens_per_sec: finite,
  elapsed_s: finite,
  // Peak GPU memory allocated (GiB) since the previous step event; absent on the CPU.
  gpu_mem_gib: z.number().nonnegative().nullable().optional(),
  // Preference and reward stages only (STAGE_METRICS); absent for sft and pt.
  metrics: stageMetricsSchema.optional(),
});

export const checkpointEvent = z.object({
  ...base,
  type: z.literal("checkpoint"),
  step: z.number().int().nonnegative(),
  path: z.string(),
});

export const evalEvent = z.object({
  ...base,
  type: z.literal("eval"),
  step: z.number().int().nonnegative(),
  epoch: finite,
  eval_loss: z.number().nullable(),
});

export const doneEvent = z.object({
  ...base,
  type: z.literal("done"),
  step: z.number().int().nonnegative(),
  train_loss: z.number().nullable(),
  runtime_s: finite,
  tokens_seen: z.number().int().nonnegative(),
  adapter_path: z.string(),
  eval_loss: z.number().nullable().optional(),
  // Set when early stopping ended the run: the rule that fired and the best evaluation seen.
  stopped_early: stoppedEarlySchema.optional(),
});

export const errorEvent = z.object({
  ...base,
  type: z.literal("error"),
  message: z.string(),
  kind: z.enum(["config", "data", "oom", "internal"]),
  traceback: z.string().optional(),
});

// Evaluate / export jobs (worker/run-task.ts): progress of a stage, and where the result JSON is.
const taskKind = z.enum(["eval", "export"]);
export const progressEvent = z.object({
  ...base,
  type: z.literal("progress"),
  task: taskKind,
  stage: z.string(),
  current: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
});

export const resultEvent = z.object({
  ...base,
  type: z.literal("result"),
  task: taskKind,
  output_dir: z.string(),
  result_path: z.string(),
});

export const trainerEvent = z.discriminatedUnion("type", [
  startedEvent,
  logEvent,
  stepEvent,
  checkpointEvent,
  evalEvent,
  doneEvent,
  errorEvent,
  progressEvent,
  resultEvent,
]);

export type TrainerEvent = z.infer<typeof trainerEvent>;
export type StepEvent = z.infer<typeof stepEvent>;

/** Parse one stdout line. Returns null for lines that are not protocol events (kept as log text). */
export function parseTrainerLine(line: string): { event: TrainerEvent } | { error: string } | null {
  const trimmed = line.trim();
  if (!trimmed.startsWith("{")) return null;
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    return null;
  }
  const result = trainerEvent.safeParse(json);
  if (!result.success) return { error: result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") };
  return { event: result.data };
}
