// Evaluate & Predict: what the form submits (strings from FormData), what the queue stores, and
// the result the worker saves on the job (Job.result). The Python side validates its config again
// (worker/trainer/tuneboard_trainer/evaluate.py). Defaults are LlamaBoard's Evaluate tab, except
// decoding, which is greedy unless sampling is asked for (reproducible scores).
import { z } from "zod";
import { TEMPLATES } from "./run-config";

// Form inputs arrive as strings; a number field gets a message that names what is wrong.
export const num = (label: string) =>
  z.preprocess(
    (v) => (typeof v === "string" ? (v.trim() === "" ? undefined : Number(v.trim())) : v),
    z.number({ error: `${label} must be a number` }).refine(Number.isFinite, `${label} must be a number`),
  );
export const int = (label: string, min: number, max: number) =>
  num(label).pipe(
    z.number().int(`${label} must be a whole number`).min(min, `${label} must be ≥ ${min}`).max(max, `${label} must be ≤ ${max}`),
  );
export const flag = (fallback: boolean) =>
  z.preprocess((v) => (v === "on" || v === "true" ? true : v === "off" || v === "false" ? false : v), z.boolean().default(fallback));
/** "" or absent: no adapter (the base model alone); else the id of a finished training run. */
export const adapterRunField = z.preprocess(
  (v) => (v === "" || v === null || v === undefined ? undefined : typeof v === "string" ? Number(v) : v),
  z.number({ error: "choose a finished run" }).int().positive("choose a finished run").optional(),
);

export const evalConfigSchema = z.object({
  name: z.string().trim().max(80).optional(),
  model_name_or_path: z.string().trim().min(1, "choose a model"),
  adapter_run: adapterRunField,
  template: z.enum(TEMPLATES, { error: "unknown template" }).default("llama3"),
  dataset: z.array(z.string().min(1)).min(1, "choose at least one dataset"),
  cutoff_len: int("cutoff length", 8, 1_048_576).default(1024),
  max_samples: int("max samples", 1, 1_000_000_000).default(100000),
  batch_size: int("batch size", 1, 4096).default(2),
  predict: flag(true),
  max_new_tokens: int("max new tokens", 1, 65536).default(512),
  do_sample: flag(false),
  temperature: num("temperature").pipe(z.number().min(0, "temperature must be ≥ 0").max(5, "temperature must be ≤ 5")).default(0.95),
  top_p: num("top-p").pipe(z.number().gt(0, "top-p must be > 0").max(1, "top-p must be ≤ 1")).default(0.7),
  seed: int("seed", 0, Number.MAX_SAFE_INTEGER).default(42),
});
export type EvalConfig = z.infer<typeof evalConfigSchema>;
export const EVAL_FLAG_FIELDS = ["predict", "do_sample"] as const;

export const DEFAULT_EVAL_CONFIG = evalConfigSchema.parse({ model_name_or_path: "x", dataset: ["x"] });

/** What the queue stores and the worker hands to `python -m tuneboard_trainer evaluate` (plus dirs). */
export const evalTaskSchema = evalConfigSchema
  .omit({ name: true, adapter_run: true })
  .extend({ adapter_path: z.string().min(1).nullable(), adapter_run: z.number().int().positive().nullable() });
export type EvalTask = z.infer<typeof evalTaskSchema>;

/** The config file `python -m tuneboard_trainer evaluate` reads: the task plus the worker's folders. */
export const evalTaskFileSchema = evalTaskSchema
  .omit({ adapter_run: true })
  .extend({ adapter_path: z.string().min(1).nullable().default(null), dataset_dir: z.string().min(1), output_dir: z.string().min(1) })
  .strict();

const score = z.number().finite();
export const predictionRow = z.object({
  prompt: z.string(),
  predict: z.string(),
  label: z.string(),
  "bleu-4": score,
  "rouge-1": score,
  "rouge-2": score,
  "rouge-l": score,
});
export type PredictionRow = z.infer<typeof predictionRow>;

export const evalResultSchema = z.object({
  metrics: z.object({
    eval_loss: z.number().nullable(),
    perplexity: z.number().nullable(),
    eval_tokens: z.number().int().nonnegative(),
    num_samples: z.number().int().nonnegative(),
    num_predicted: z.number().int().nonnegative(),
    "predict_bleu-4": score.optional(),
    "predict_rouge-1": score.optional(),
    "predict_rouge-2": score.optional(),
    "predict_rouge-l": score.optional(),
    predict_tokens_per_sec: z.number().nullable().optional(),
    runtime_s: z.number(),
  }),
  predictions: z.array(predictionRow),
  files: z.object({ predictions: z.string(), metrics: z.string() }),
  adapter_path: z.string().nullable(),
  device: z.string(),
});
export type EvalResult = z.infer<typeof evalResultSchema>;
