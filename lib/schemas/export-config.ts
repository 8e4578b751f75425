// Export: merge a finished run's LoRA adapter into its base model and write a Hugging Face model
// folder under the export root. Form schema, the stored task, and the result (Job.result).
// The Python side validates again (worker/trainer/tuneboard_trainer/export.py).
import { z } from "zod";
import { adapterRunField, int } from "./eval-config";

export const EXPORT_DTYPES = ["auto", "float32", "bfloat16", "float16"] as const;
/** hf: a safetensors folder; gguf: one .gguf file for llama.cpp / Ollama with a Modelfile and model card. */
export const EXPORT_FORMATS = ["hf", "gguf"] as const;
export const GGUF_TYPES = ["f16", "bf16", "q8_0", "q4_k_m"] as const;
/** One or more plain folder names: letters, digits, . _ -; never "." or ".." (resolved inside the export root too). */
export const EXPORT_DIR_PATTERN = /^(?!\.{1,2}(?:\/|$))[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;

export const exportConfigSchema = z.object({
  name: z.string().trim().max(80).optional(),
  model_name_or_path: z.string().trim().min(1, "choose a model"),
  adapter_run: adapterRunField,
  export_dir: z
    .string()
    .trim()
    .min(1, "name the export folder")
    .max(200, "at most 200 characters")
    .regex(EXPORT_DIR_PATTERN, "a folder name inside the export root: letters, digits, . _ - and /"),
  // MiB; LlamaBoard's default is 5 GB.
  max_shard_size_mb: int("max shard size", 1, 1_000_000).default(5120),
  export_dtype: z.enum(EXPORT_DTYPES, { error: "unknown dtype" }).default("auto"),
  format: z.enum(EXPORT_FORMATS, { error: "unknown export format" }).default("hf"),
  gguf_type: z.enum(GGUF_TYPES, { error: "unknown GGUF type" }).default("q8_0"),
});
export type ExportConfig = z.infer<typeof exportConfigSchema>;
export const DEFAULT_EXPORT_CONFIG = exportConfigSchema.parse({ model_name_or_path: "x", export_dir: "x" });

/** What the queue stores: absolute, already-checked paths. */
export const exportTaskSchema = z.object({
  model_name_or_path: z.string().min(1),
  adapter_path: z.string().min(1).nullable(),
  adapter_run: z.number().int().positive().nullable(),
  export_dir: z.string().min(1),
  max_shard_size_mb: z.number().int().min(1),
  export_dtype: z.enum(EXPORT_DTYPES),
  format: z.enum(EXPORT_FORMATS).default("hf"),
  gguf_type: z.enum(GGUF_TYPES).default("q8_0"),
  /** Model card facts about the adapter's run (worker/trainer/tuneboard_trainer/model_card.py). */
  card: z
    .object({
      run_name: z.string().optional(),
      base_model: z.string().optional(),
      datasets: z.array(z.string()).optional(),
      method: z.string().optional(),
      template: z.string().optional(),
      hyperparameters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
      final_train_loss: z.number().optional(),
      final_eval_loss: z.number().optional(),
      /** The identity check's result: a sentence, or its counts and an example answer. */
      identity_check: z.union([z.string(), z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]))]).optional(),
      eval_metrics: z.record(z.string(), z.number()).optional(),
      loss_plot: z.string().optional(),
      system_prompt: z.string().optional(),
    })
    .nullable()
    .default(null),
});
export type ExportTask = z.infer<typeof exportTaskSchema>;

/** Where the export's per-tensor merge runs; auto: CUDA when available. */
export const EXPORT_DEVICES = ["auto", "cpu", "cuda"] as const;

/** The config file `python -m tuneboard_trainer export` reads: the task plus the job's own folder. */
export const exportTaskFileSchema = exportTaskSchema
  .omit({ adapter_run: true })
  .extend({
    adapter_path: z.string().min(1).nullable().default(null),
    max_shard_size_mb: z.number().int("max shard size must be a whole number").min(1, "max shard size must be ≥ 1").default(5120),
    export_dtype: z.enum(EXPORT_DTYPES, { error: "unknown dtype" }).default("auto"),
    device: z.enum(EXPORT_DEVICES, { error: "device must be auto, cpu or cuda" }).default("auto"),
    output_dir: z.string().min(1),
  })
  .strict();

export const hfExportResultSchema = z.object({
  export_dir: z.string(),
  files: z.array(z.object({ name: z.string(), bytes: z.number().int().nonnegative() })),
  shards: z.number().int().nonnegative(),
  max_shard_size_mb: z.number().int(),
  dtype: z.string(),
  merged_adapter: z.string().nullable(),
  runtime_s: z.number(),
});

export const ggufExportResultSchema = z.object({
  format: z.literal("gguf"),
  export_dir: z.string(),
  gguf_file: z.string(),
  gguf_type: z.enum(GGUF_TYPES),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
  tensor_types: z.record(z.string(), z.number().int()),
  files: z.array(z.object({ name: z.string(), bytes: z.number().int().nonnegative(), sha256: z.string().optional() })),
  model_card: z.string(),
  model_card_text: z.string().max(200_000),
  merged_adapter: z.string().nullable(),
  runtime_s: z.number(),
});

export const exportResultSchema = z.union([ggufExportResultSchema, hfExportResultSchema]);
export type ExportResult = z.infer<typeof exportResultSchema>;
export type HfExportResult = z.infer<typeof hfExportResultSchema>;
export type GgufExportResult = z.infer<typeof ggufExportResultSchema>;
