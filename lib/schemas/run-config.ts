// The run configuration: what the Train form submits, what the queue stores, and (plus paths the
// worker fills in) what the Python trainer validates again in tuneboard_trainer/config.py.
// Field names are LLaMA-Factory's so that a config reads the same in both tools.
import { z } from "zod";

/** Linear layers LoRA can wrap, as peft names them; qkv_proj and gate_up_proj are the fused ones (Phi-3, GLM). */
export const LORA_TARGETS = [
  "q_proj",
  "k_proj",
  "v_proj",
  "o_proj",
  "gate_proj",
  "up_proj",
  "down_proj",
  "qkv_proj",
  "gate_up_proj",
] as const;
/** Chat templates with LLaMA-Factory's names (the trainer's templates.py renders them); "tokenizer" = the model's own. */
export const TEMPLATES = [
  "llama3",
  "qwen",
  "mistral",
  "llama2",
  "default",
  "tokenizer",
  "gemma",
  "gemma3",
  "phi",
  "phi4",
  "glm4",
  "qwen3",
  "qwen3_nothink",
  "deepseekr1",
] as const;
export const METHODS = ["lora", "freeze", "full"] as const;
export const COMPUTE_TYPES = ["auto", "bf16", "fp16", "fp32"] as const;
export const SCHEDULERS = ["cosine", "linear", "constant"] as const;
export const FAST_PATHS = ["auto", "on", "off"] as const;
// Training stages and preference losses, with LLaMA-Factory's names (hparams/finetuning_args.py):
// pt = continued pre-training on raw text, sft = supervised fine-tuning, rm = reward model,
// dpo = preference optimisation (pref_loss picks DPO sigmoid/hinge/ipo, ORPO or SimPO), kto = KTO.
export const STAGES = ["pt", "sft", "rm", "dpo", "kto"] as const;
export const PREF_LOSSES = ["sigmoid", "hinge", "ipo", "orpo", "simpo"] as const;
export type Stage = (typeof STAGES)[number];
/** The preference stages, which train on whole pairs or tagged answers (never packed). */
export const PREFERENCE_STAGES: readonly Stage[] = ["rm", "dpo", "kto"];
/** pref_loss values that compare against a reference model (ORPO and SimPO are reference-free). */
export const REFERENCE_LOSSES: readonly (typeof PREF_LOSSES)[number][] = ["sigmoid", "hinge", "ipo"];
/** Whether a run of this config trains against a reference model (dpo with a reference loss, kto). */
export const needsReference = (c: { stage: Stage; pref_loss: (typeof PREF_LOSSES)[number] }) =>
  c.stage === "kto" || (c.stage === "dpo" && REFERENCE_LOSSES.includes(c.pref_loss));
// What a registered dataset holds, by its dataset_info.json entry (lib/datasets/kind.ts):
// sft = instruction/answer or conversation records, preference = `ranking: true` pairs (chosen /
// rejected), kto = records with a `kto_tag` column, pretraining = raw documents.
export const DATASET_KINDS = ["sft", "preference", "kto", "pretraining"] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];
/** The dataset kinds each stage trains on (tuneboard_trainer/stage_data.py's loaders). */
export const STAGE_DATASET_KINDS: Record<Stage, readonly DatasetKind[]> = {
  pt: ["pretraining"],
  sft: ["sft"],
  rm: ["preference"],
  dpo: ["preference"],
  kto: ["kto"],
};
export const datasetFitsStage = (kind: DatasetKind, stage: Stage) => STAGE_DATASET_KINDS[stage].includes(kind);
/** The refusal of a dataset that does not fit the stage ({name}, {stage}, {kinds}: the kinds joined by " or "). */
export const STAGE_DATASET_MESSAGE = 'dataset "{name}" does not fit stage {stage}: choose a {kinds} dataset';
export const stageDatasetMessage = (name: string, stage: Stage) =>
  STAGE_DATASET_MESSAGE.replace("{name}", name).replace("{stage}", stage).replace("{kinds}", STAGE_DATASET_KINDS[stage].join(" or "));
/**
 * What a registered dataset holds, from its dataset_info.json entry alone (lib/datasets/kind.ts and the
 * trainer's dataset_kind.py read this table): the first rule whose conditions all hold names the kind, else
 * DEFAULT_DATASET_KIND. `ranking`: the entry sets `ranking: true`; `column`: it names that column (non-empty);
 * `formatting`: its formatting (absent = "alpaca"); `without_columns`: it names none of these. Follows
 * LLaMA-Factory: `ranking: true` marks preference pairs, `columns.kto_tag` KTO's tagged answers, and a
 * pre-training set names only its text column (`columns.text`, or LLaMA-Factory's own `{"prompt": "text"}`
 * alone: one that also names a query, history or response column is a supervised set).
 */
export interface DatasetKindRule {
  kind: DatasetKind;
  ranking?: true;
  column?: string;
  formatting?: string;
  without_columns?: readonly string[];
}
export const DATASET_KIND_RULES: readonly DatasetKindRule[] = [
  { kind: "preference", ranking: true },
  { kind: "kto", column: "kto_tag" },
  { kind: "pretraining", column: "text" },
  { kind: "pretraining", formatting: "alpaca", column: "prompt", without_columns: ["response", "query", "history"] },
];
export const DEFAULT_DATASET_KIND: DatasetKind = "sft";
export const PACKING_PREFERENCE = "packing: preference stages train on whole pairs; turn packing off";
export const REFERENCE_NEEDS_LORA = "the reference model is the base with the LoRA adapter off: use LoRA, or the orpo / simpo loss";
// LlamaBoard's "Quantization bit" for the frozen base weights (strings, as its select sends them).
export const QUANTIZATION_BITS = ["none", "8", "4"] as const;
// auto: nf4 for 4 bits; fp8 for 8 bits on a GPU of compute capability >= 8.9, int8 elsewhere.
export const QUANTIZATION_METHODS = ["auto", "nf4", "int8", "fp8"] as const;
/** The bit width of each explicit method (the trainer's quant/run.py reads this table, generated). */
export const QUANTIZATION_METHOD_BITS: Record<Exclude<(typeof QUANTIZATION_METHODS)[number], "auto">, "4" | "8"> = {
  nf4: "4",
  int8: "8",
  fp8: "8",
};
/** Fine-tuning methods that train on a quantized base: LoRA only, as LLaMA-Factory refuses full/freeze on one. */
export const QUANTIZABLE_METHODS = ["lora"] as const;

// Form inputs arrive as strings; a number field gets a message that names what is wrong. The
// checks go on the number schema itself (not a later pipe) so that the generated JSON Schema
// (scripts/gen-contracts.ts) carries them, integer type included.
const toNumber = (v: unknown) => (typeof v === "string" ? (v.trim() === "" ? undefined : Number(v.trim())) : v);
const num = (label: string, checks: (n: z.ZodNumber) => z.ZodNumber = (n) => n) =>
  z.preprocess(toNumber, checks(z.number({ error: (issue) => (issue.code === "invalid_type" ? `${label} must be a number` : undefined) })));
const int = (label: string, checks: (n: z.ZodNumber) => z.ZodNumber = (n) => n) =>
  num(label, (n) => checks(n.int(`${label} must be a whole number`)));
// JSON clients send booleans (or omit them: the default applies); the Train form sends "true"/"false".
const flag = (fallback: boolean) =>
  z.preprocess((v) => (v === "on" || v === "true" ? true : v === "off" || v === "false" ? false : v), z.boolean().default(fallback));
export const FLAG_FIELDS = ["use_rslora", "use_dora", "train_on_prompt", "mask_history", "packing", "gradient_checkpointing"] as const;
const optionalInt = (label: string) =>
  z.preprocess((v) => (v === "" || v === null ? undefined : v), int(label, (n) => n.min(1, `${label} must be ≥ 1`)).optional());
const optionalNum = (label: string, checks: (n: z.ZodNumber) => z.ZodNumber) =>
  z.preprocess((v) => (v === "" || v === null ? undefined : v), num(label, checks).optional());

export type RunConfig = z.infer<typeof runConfigSchema>;

export const runConfigSchema = z.object({
  name: z.string().trim().max(80).optional(),
  stage: z.enum(STAGES, { error: "stage must be pt, sft, rm, dpo or kto" }).default("sft"),
  model_name_or_path: z.string().trim().min(1, "choose a model"),
  template: z.enum(TEMPLATES, { error: "unknown template" }),
  finetuning_type: z.enum(METHODS, { error: "method must be lora, freeze or full" }),
  dataset: z.array(z.string().min(1)).min(1, "choose at least one dataset"),
  learning_rate: num("learning rate", (n) => n.gt(0, "learning rate must be > 0")),
  num_train_epochs: num("epochs", (n) => n.gt(0, "epochs must be > 0").max(1000, "epochs must be ≤ 1000")),
  max_samples: int("max samples", (n) => n.min(1, "max samples must be ≥ 1")),
  // 4 tokens: the shortest sequence the trainer's templates can hold a prompt and a reply in.
  cutoff_len: int("cutoff length", (n) => n.min(4, "cutoff length must be ≥ 4").max(1_048_576, "cutoff length must be ≤ 1048576")),
  per_device_train_batch_size: int("batch size", (n) => n.min(1, "batch size must be ≥ 1").max(4096, "batch size must be ≤ 4096")),
  gradient_accumulation_steps: int("gradient accumulation", (n) => n.min(1, "gradient accumulation must be ≥ 1").max(4096, "gradient accumulation must be ≤ 4096")),
  lr_scheduler_type: z.enum(SCHEDULERS),
  warmup_steps: int("warmup steps", (n) => n.min(0)),
  // 0 turns gradient clipping off.
  max_grad_norm: num("max grad norm", (n) => n.min(0, "max grad norm must be ≥ 0 (0: no clipping)")),
  logging_steps: int("logging steps", (n) => n.min(1, "logging steps must be ≥ 1")),
  // 0: no intermediate checkpoints, only the final adapter.
  save_steps: int("save steps", (n) => n.min(0, "save steps must be ≥ 0")),
  lora_rank: int("LoRA rank", (n) => n.min(1, "LoRA rank must be ≥ 1")),
  lora_alpha: num("LoRA alpha", (n) => n.gt(0, "LoRA alpha must be > 0")),
  lora_dropout: num("LoRA dropout", (n) => n.min(0, "LoRA dropout must be in [0, 1)").lt(1, "LoRA dropout must be in [0, 1)")),
  lora_target: z.union([z.literal("all"), z.array(z.enum(LORA_TARGETS)).min(1, "choose at least one module")]),
  use_rslora: flag(false),
  use_dora: flag(false),
  // N > 0: train the last N layers; N < 0: the first -N layers (LLaMA-Factory's rule).
  freeze_trainable_layers: int("trainable layers")
    .refine((v) => v !== 0, "trainable layers must not be 0 (N > 0: the last N layers, N < 0: the first N)")
    .meta({ not: { const: 0 } })
    .default(2),
  // "all" or module names inside the trained layers, comma-separated (e.g. "mlp,self_attn").
  freeze_trainable_modules: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.]+(\s*,\s*[A-Za-z0-9_.]+)*$/, "trainable modules: all, or module names separated by commas")
    .default("all"),
  train_on_prompt: flag(false),
  mask_history: flag(false),
  packing: flag(false),
  // Preference stages (dpo, kto); LLaMA-Factory's names and defaults.
  pref_loss: z.enum(PREF_LOSSES, { error: "preference loss must be sigmoid, hinge, ipo, orpo or simpo" }).default("sigmoid"),
  // DPO/KTO beta (ORPO: the odds-ratio weight; SimPO: the reward scale).
  pref_beta: num("preference beta", (n) => n.gt(0, "preference beta must be > 0")).default(0.1),
  // Weight of the SFT loss on the chosen answers added to the preference loss (0: none).
  pref_ftx: num("SFT loss weight", (n) => n.min(0, "SFT loss weight must be ≥ 0")).default(0),
  // SimPO's target reward margin.
  simpo_gamma: num("SimPO gamma", (n) => n.min(0, "SimPO gamma must be ≥ 0")).default(0.5),
  kto_chosen_weight: num("KTO desirable weight", (n) => n.gt(0, "KTO desirable weight must be > 0")).default(1),
  kto_rejected_weight: num("KTO undesirable weight", (n) => n.gt(0, "KTO undesirable weight must be > 0")).default(1),
  val_size: num("validation size", (n) => n.min(0, "validation size must be ≥ 0")).refine(
    (v) => v < 1 || Number.isInteger(v),
    "validation size is a fraction below 1 or a whole number of samples",
  ).meta({ anyOf: [{ exclusiveMaximum: 1 }, { type: "integer" }] }).default(0),
  eval_steps: int("eval steps", (n) => n.min(1, "eval steps must be ≥ 1")).default(100),
  max_steps: optionalInt("max steps"),
  warmup_ratio: num("warmup ratio", (n) => n.min(0, "warmup ratio must be ≥ 0").lt(1, "warmup ratio must be below 1")).default(0),
  weight_decay: num("weight decay", (n) => n.min(0, "weight decay must be ≥ 0")).default(0),
  compute_type: z.enum(COMPUTE_TYPES).default("auto"),
  // The trainer's GPU fast path for LoRA (tuneboard_trainer/fast/), every stage; auto: on CUDA only.
  fast_path: z.enum(FAST_PATHS, { error: "fast path must be auto, on or off" }).default("auto"),
  // Quantized frozen base weights (LoRA only; tuneboard_trainer/quant/). The method must fit the bit width
  // (nf4: 4; int8, fp8: 8); the trainer checks that pair when it loads the model.
  quantization_bit: z.enum(QUANTIZATION_BITS, { error: "quantization bit must be none, 8 or 4" }).default("none"),
  quantization_method: z
    .enum(QUANTIZATION_METHODS, { error: "quantization method must be auto, nf4, int8 or fp8" })
    .default("auto"),
  // Mixture-of-experts models: weight of the router's load-balancing loss added to the training loss
  // (LLaMA-Factory's moe_aux_loss_coef; not set: no auxiliary loss, as in LLaMA-Factory).
  // Reasoning templates (qwen3, deepseekr1): keep the <think> blocks of replies and train them (LLaMA-Factory's
  // enable_thinking, on by default), or drop them. The Train form leaves it to this default.
  enable_thinking: flag(true),
  moe_aux_loss_coef: optionalNum("MoE aux loss coefficient", (n) => n.min(0, "MoE aux loss coefficient must be ≥ 0")),
  // GPUs the job asks for (Job.numGpus; lib/queue/claim.ts): 0 = any worker, on whatever it has
  // (the CPU or one GPU); N >= 1 = only a worker advertising at least N GPUs takes it, and trains on
  // N of them (N >= 2: torchrun, lib/trainer/command.ts). A queue setting, not a trainer one:
  // it is left out of the trainer's config file (lib/trainer/config-file.ts).
  num_gpus: z.preprocess(
    (v) => ((typeof v === "string" && v.trim() === "") || v === null ? undefined : v),
    int("GPUs", (n) => n.min(0, "GPUs must be ≥ 0").max(64, "GPUs must be ≤ 64")).default(0),
  ),
  // Where the trainer runs: auto (CUDA when available), cpu, cuda or cuda:N.
  device: z.string().trim().regex(/^(auto|cpu|cuda(:\d+)?)$/, "device must be auto, cpu, cuda or cuda:N").default("auto"),
  gradient_checkpointing: flag(true),
  seed: int("seed", (n) => n.min(0, "seed must be ≥ 0")),
  // A checkpoint folder of an earlier run (under the runs folder), e.g. run-3/checkpoint-100.
  resume_from_checkpoint: z.preprocess((v) => (v === "" || v === null ? undefined : v), z.string().trim().min(1).optional()),
  // Early stopping on the held-out split's loss: stop after this many evaluations in a row that did
  // not improve on the best by more than early_stopping_min_delta (0: off). Needs val_size > 0
  // (runConfigRules below; the trainer also refuses when the split holds no samples).
  early_stopping_patience: int("early stopping patience", (n) => n.min(0, "early stopping patience must be ≥ 0")).default(0),
  early_stopping_min_delta: num("early stopping min delta", (n) => n.min(0, "early stopping min delta must be ≥ 0")).default(0),
  // The succeeded run this one continues (Continue training on the Run page): the trainer starts
  // from that run's final state (weights, optimizer, scheduler, RNG, step counter) and trains
  // num_train_epochs more epochs. A queue/UI field: the config file names the run's folder instead
  // (continue_from, lib/trainer/config-file.ts).
  continue_from_run: optionalInt("continued run"),
});

export const EARLY_STOPPING_NEEDS_EVAL = "early stopping needs a validation split: set validation size above 0";
export const QUANTIZATION_NEEDS_LORA = "quantized base weights train only with LoRA: choose LoRA, or quantization bit none";
export const quantizationMethodMismatch = (method: string, bits: string) =>
  `quantization method ${method} needs quantization bit ${bits}`;

/** The quantization rule the trainer also applies (quant/run.py): LoRA only, and a method that fits the bit width. */
export function quantizationIssues(config: Pick<RunConfig, "quantization_bit" | "quantization_method" | "finetuning_type">): { path: string; message: string }[] {
  const issues: { path: string; message: string }[] = [];
  if (config.quantization_bit !== "none" && !(QUANTIZABLE_METHODS as readonly string[]).includes(config.finetuning_type)) {
    issues.push({ path: "quantization_bit", message: QUANTIZATION_NEEDS_LORA });
  }
  if (config.quantization_method !== "auto" && QUANTIZATION_METHOD_BITS[config.quantization_method] !== config.quantization_bit) {
    issues.push({ path: "quantization_method", message: quantizationMethodMismatch(config.quantization_method, QUANTIZATION_METHOD_BITS[config.quantization_method]) });
  }
  return issues;
}

/**
 * Rules between fields, for every request that queues a run (createRun, Show command). They sit
 * beside the object so that runConfigSchema.shape/.omit stay available; the trainer checks the
 * same rule on the split it actually built (train.py).
 */
export function runConfigRules(config: RunConfig, ctx: z.RefinementCtx): void {
  if (config.early_stopping_patience > 0 && config.val_size === 0) {
    ctx.addIssue({ code: "custom", path: ["early_stopping_patience"], message: EARLY_STOPPING_NEEDS_EVAL });
  }
  // The trainer refuses the same (tuneboard_trainer/stages.py check_stage), after the run was queued.
  if (PREFERENCE_STAGES.includes(config.stage) && config.packing) {
    ctx.addIssue({ code: "custom", path: ["packing"], message: PACKING_PREFERENCE });
  }
  if (needsReference(config) && config.finetuning_type !== "lora") {
    ctx.addIssue({ code: "custom", path: ["finetuning_type"], message: REFERENCE_NEEDS_LORA });
  }
  for (const { path, message } of quantizationIssues(config)) ctx.addIssue({ code: "custom", path: [path], message });
}

/** runConfigSchema with the rules between fields: what a request to queue a run must pass. */
export const runRequestSchema = runConfigSchema.superRefine(runConfigRules);

/**
 * The same, plus: every dataset fits the stage, given each registered dataset's kind (datasets
 * missing from `kinds` are left to the registry check, which names them).
 */
export function runRequestSchemaWith(kinds: Readonly<Record<string, DatasetKind>>) {
  return runConfigSchema.superRefine((config, ctx) => {
    runConfigRules(config, ctx);
    const misfit = config.dataset.find((name) => kinds[name] !== undefined && !datasetFitsStage(kinds[name], config.stage));
    if (misfit !== undefined) ctx.addIssue({ code: "custom", path: ["dataset"], message: stageDatasetMessage(misfit, config.stage) });
  });
}

/** Samples per optimizer step: LLaMA-Factory's rule, batch × accumulation × data-parallel ranks (distributed.py). */
export function globalBatchSize(batch: number, accumulation: number, numGpus: number): number {
  return batch * accumulation * Math.max(1, numGpus);
}

/** LLaMA-Factory web-UI defaults (see docs/architecture.md). */
export const DEFAULT_RUN_CONFIG: Omit<RunConfig, "model_name_or_path" | "dataset"> = {
  stage: "sft",
  template: "llama3",
  finetuning_type: "lora",
  learning_rate: 5e-5,
  num_train_epochs: 3,
  max_samples: 100000,
  cutoff_len: 2048,
  per_device_train_batch_size: 2,
  gradient_accumulation_steps: 8,
  lr_scheduler_type: "cosine",
  warmup_steps: 0,
  max_grad_norm: 1.0,
  logging_steps: 5,
  save_steps: 100,
  lora_rank: 8,
  lora_alpha: 16,
  lora_dropout: 0,
  lora_target: "all",
  use_rslora: false,
  use_dora: false,
  freeze_trainable_layers: 2,
  freeze_trainable_modules: "all",
  train_on_prompt: false,
  mask_history: false,
  packing: false,
  pref_loss: "sigmoid",
  pref_beta: 0.1,
  pref_ftx: 0,
  simpo_gamma: 0.5,
  kto_chosen_weight: 1,
  kto_rejected_weight: 1,
  val_size: 0,
  eval_steps: 100,
  max_steps: undefined,
  warmup_ratio: 0,
  weight_decay: 0,
  compute_type: "auto",
  fast_path: "auto",
  quantization_bit: "none",
  quantization_method: "auto",
  moe_aux_loss_coef: undefined,
  enable_thinking: true,
  num_gpus: 0,
  device: "auto",
  gradient_checkpointing: true,
  seed: 42,
  resume_from_checkpoint: undefined,
  early_stopping_patience: 0,
  early_stopping_min_delta: 0,
  continue_from_run: undefined,
};

/**
 * What the worker hands the trainer: the run config (less the UI/queue-only fields) plus the paths
 * it owns. Fields the file leaves out take DEFAULT_RUN_CONFIG's value, so a hand-written config for
 * `python -m tuneboard_trainer train` needs only the model, the datasets and the two folders. Its
 * JSON Schema (worker/trainer/tuneboard_trainer/contracts/) is what the trainer validates with.
 */
const trainerDefaults = Object.fromEntries(
  Object.entries(DEFAULT_RUN_CONFIG)
    .filter(([key, value]) => value !== undefined && key !== "num_gpus" && key !== "continue_from_run")
    .map(([key, value]) => [key, (runConfigSchema.shape[key as keyof RunConfig] as z.ZodType).default(value as never)]),
);
export const trainerConfigFileSchema = runConfigSchema
  .omit({ name: true, num_gpus: true, continue_from_run: true })
  .extend({
    ...trainerDefaults,
    // A hand-written file may say null for "not set".
    max_steps: runConfigSchema.shape.max_steps.nullable(),
    moe_aux_loss_coef: runConfigSchema.shape.moe_aux_loss_coef.nullable(),
    resume_from_checkpoint: z.string().trim().min(1, "name a checkpoint folder, or leave it out").nullable().optional(),
    // The folder of the run this one continues (its final trainer_state.pt); the worker fills it in
    // from continue_from_run.
    continue_from: z.string().trim().min(1, "name the earlier run's folder, or leave it out").nullable().optional(),
    dataset_dir: z.string().min(1, "the data folder is required"),
    output_dir: z.string().min(1, "the output folder is required"),
  })
  .strict();

export type TrainerConfigFile = Omit<RunConfig, "name" | "num_gpus" | "continue_from_run"> & {
  continue_from?: string | null;
  dataset_dir: string;
  output_dir: string;
};
