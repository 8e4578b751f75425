// Datasets as LLaMA-Factory stores them: a registry (dataset_info.json) naming files of records.
// The schemas follow LLaMA-Factory's field names so that a data/ folder edited in Tuneboard can
// be handed to `llamafactory-cli train` unchanged, and vice versa.
import { z } from "zod";
import { TEMPLATES } from "@/lib/schemas/run-config";

export const FORMATTINGS = ["alpaca", "sharegpt"] as const;
export type Formatting = (typeof FORMATTINGS)[number];

// LLaMA-Factory fetches these from a hub instead of the local file (and prefers them over
// file_name), so an entry carrying one of them is not a local dataset Tuneboard can read.
export const REMOTE_SOURCE_KEYS = ["hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name"] as const;

/**
 * One dataset_info.json entry. Loose on purpose: LLaMA-Factory has many more fields (ranking,
 * split, subset, folder, num_samples, ...) and a rewrite of the registry must keep them.
 */
export const datasetEntrySchema = z.looseObject({
  file_name: z.string({ error: "file_name must be a string" }).min(1, "file_name must not be empty"),
  formatting: z.enum(FORMATTINGS, { error: 'formatting must be "alpaca" or "sharegpt"' }).optional(),
  columns: z.record(z.string(), z.string(), { error: "columns must map names to strings" }).optional(),
  tags: z.record(z.string(), z.string(), { error: "tags must map names to strings" }).optional(),
  // Preference pairs: `chosen` and `rejected` columns instead of one response.
  ranking: z.boolean({ error: "ranking must be true or false" }).optional(),
});
export type DatasetEntry = z.infer<typeof datasetEntrySchema>;

/**
 * The file as a whole: only "an object of objects" is checked here, because entries for hub
 * datasets have no file_name and must still survive a rewrite. Local entries are checked one by
 * one with datasetEntrySchema so the error can name the entry.
 */
export const registryFileSchema = z.record(z.string(), z.record(z.string(), z.unknown()), {
  error: "dataset_info.json must be an object of dataset entries",
});
export type RegistryFile = z.infer<typeof registryFileSchema>;

/**
 * LLaMA-Factory json.loads the tools column when it renders the prompt and aborts training on
 * invalid JSON; an empty string means "no tools".
 */
export function isToolsJson(text: string): boolean {
  if (text.trim() === "") return true;
  try {
    return Array.isArray(JSON.parse(text));
  } catch {
    return false;
  }
}

/**
 * One alpaca record, under LLaMA-Factory's canonical column names. Messages are phrased to follow
 * "record N: <field>: " so a reader error reads as a sentence.
 */
export const alpacaRecordSchema = z.object(
  {
    instruction: z.string({ error: "must be a string" }),
    input: z.string({ error: "must be a string" }).default(""),
    // An empty answer trains the model to say nothing: refuse it rather than learn it.
    output: z
      .string({ error: "must be a non-empty string" })
      .refine((s) => s.trim().length > 0, { error: "must be a non-empty string" }),
    system: z.string({ error: "must be a string" }).optional(),
    history: z
      .array(
        z.tuple([z.string({ error: "must be a string" }), z.string({ error: "must be a string" })], {
          error: "must be an [instruction, response] pair",
        }),
        { error: "must be a list of [instruction, response] pairs" },
      )
      .optional(),
    tools: z
      .string({ error: "must be a string of JSON tool definitions" })
      .refine(isToolsJson, { error: "must be a JSON list of tool definitions" })
      .optional(),
  },
  { error: "must be an object" },
);
export type AlpacaRecord = z.infer<typeof alpacaRecordSchema>;

/**
 * LLaMA-Factory's column defaults (DatasetAttr). A `columns` object in an entry replaces all of
 * them: every key it leaves out becomes null (unused), exactly as DatasetAttr.join does, so
 * `columns: {"prompt": "q"}` also drops the default "output" response column.
 */
export const COLUMN_DEFAULTS = {
  prompt: "instruction",
  query: "input",
  response: "output",
  history: null,
  messages: "conversations",
  system: null,
  tools: null,
  // The other stages' columns (LLaMA-Factory documents them with no default): preference answers,
  // KTO's desirable/undesirable flag, and pre-training's raw text.
  chosen: null,
  rejected: null,
  kto_tag: null,
  text: null,
} as const satisfies Record<string, string | null>;
export type ColumnKey = keyof typeof COLUMN_DEFAULTS;

// What a dataset trains, read from its dataset_info.json entry (lib/datasets/kind.ts): supervised
// conversations, preference pairs (stages rm and dpo), KTO's tagged answers, or raw text (pt). The kinds are
// defined beside the stages they train (run-config.ts STAGE_DATASET_KINDS).
export { DATASET_KINDS, type DatasetKind } from "@/lib/schemas/run-config";

/** The trainer's default answer columns of a `ranking: true` entry that names none (data.py RANKING_COLUMNS). */
export const RANKING_COLUMN_DEFAULTS = { chosen: "chosen", rejected: "rejected" } as const;

/** LLaMA-Factory's sharegpt tag defaults; a `tags` object likewise resets every tag it omits to null. */
export const TAG_DEFAULTS = {
  role_tag: "from",
  content_tag: "value",
  user_tag: "human",
  assistant_tag: "gpt",
  observation_tag: "observation",
  function_tag: "function_call",
  system_tag: "system",
} as const satisfies Record<string, string | null>;
export type TagKey = keyof typeof TAG_DEFAULTS;

/** The entry fields that describe an OpenAI-style messages file (sharegpt with OpenAI tags). */
export const OPENAI_MESSAGES_LAYOUT = {
  formatting: "sharegpt",
  columns: { messages: "messages" },
  tags: { role_tag: "role", content_tag: "content", user_tag: "user", assistant_tag: "assistant", system_tag: "system" },
} as const;

/** The roles of a normalised conversation turn (LLaMA-Factory's Role, system kept apart). */
export const MESSAGE_ROLES = ["user", "assistant", "observation", "function"] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

export interface ChatTurn {
  role: MessageRole;
  content: string;
}

/**
 * Every record of every format, as the trainer will see it: alpaca becomes history pairs then
 * one user turn ("instruction\ninput") and the output; sharegpt turns are mapped through the
 * entry's tags. Always alternates user/observation and assistant/function, ending on the latter.
 */
export interface Conversation {
  system?: string;
  /** The tool definitions (JSON text), when the entry maps a tools column and the record has some. */
  tools?: string;
  messages: ChatTurn[];
}

// The placeholders LLaMA-Factory's identity.json uses; fill replaces exactly these spellings.
export const PLACEHOLDERS = { name: "{{name}}", author: "{{author}}" } as const;

// A value that itself contained "{{" or "}}" could leave (or create) a placeholder in the filled
// copy, which then trains the model to say "{{name}}".
const identityValue = (label: string) =>
  z
    .string({ error: `${label} is required` })
    .trim()
    .min(1, `${label} is required`)
    .max(64, `${label} must be at most 64 characters`)
    .refine((s) => !s.includes("{{") && !s.includes("}}"), { error: `${label} must not contain {{ or }}` });

/**
 * A name for a new dataset. It becomes both the registry key and the file name (<name>.json),
 * so it is kept to characters that are safe in a path and in LLaMA-Factory's comma-separated
 * `dataset:` argument.
 */
export const datasetNameSchema = z
  .string({ error: "dataset name is required" })
  .trim()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,63}$/,
    "use lowercase letters, digits, _ and - (start with a letter or digit, at most 64 characters)",
  );

export const identityFillFormSchema = z.object({
  // Existing registry keys are not held to datasetNameSchema: LLaMA-Factory's own names may not fit.
  sourceName: z.string({ error: "choose a source dataset" }).min(1, "choose a source dataset"),
  name: identityValue("model name"),
  author: identityValue("author"),
  newName: datasetNameSchema,
});
export type IdentityFillForm = z.infer<typeof identityFillFormSchema>;
export type IdentityFillInput = z.input<typeof identityFillFormSchema>;

// ---------------------------------------------------------------------------------------------
// Datasets page: record edits, imports, "as the model sees it".

/** A record index in a dataset file (0-based), as the browser sends it. */
export const recordIndexSchema = z.coerce
  .number({ error: "record must be a number" })
  .int("record must be a whole number")
  .min(0, "record must be 0 or more");

/**
 * One record as the editor sends it: every top-level key as text. Keys listed in `jsonKeys` hold
 * JSON (lists such as history or messages) and are parsed back; the rest stay strings.
 */
export const recordFieldsSchema = z.object({
  fields: z.record(z.string().max(200), z.string().max(1_000_000, "at most 1,000,000 characters")),
  jsonKeys: z.array(z.string().max(200)).max(100).default([]),
});
export type RecordFields = z.infer<typeof recordFieldsSchema>;

export const recordEditSchema = recordFieldsSchema.extend({
  dataset: z.string().min(1, "choose a dataset"),
  index: recordIndexSchema,
  /** The record as the editor loaded it (JSON text): a save over a record changed since is refused. */
  expected: z.string().max(2_000_000),
});

export const recordAddSchema = recordFieldsSchema.extend({ dataset: z.string().min(1, "choose a dataset") });

export const recordDeleteSchema = z.object({
  dataset: z.string().min(1, "choose a dataset"),
  index: recordIndexSchema,
  expected: z.string().max(2_000_000),
});

/** The target layouts an imported file can be mapped to. */
export const IMPORT_FORMATS = ["alpaca", "sharegpt", "openai", "preference", "kto", "text"] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

// "" from a select means "not mapped".
const sourceKey = z.string().max(200);
const requiredKey = (what: string) => sourceKey.min(1, `choose the ${what}`);

export const importMappingSchema = z.discriminatedUnion(
  "format",
  [
    z.object({
      format: z.literal("alpaca"),
      instruction: requiredKey("instruction column"),
      input: sourceKey.default(""),
      output: requiredKey("output column"),
      system: sourceKey.default(""),
      history: sourceKey.default(""),
    }),
    z.object({
      format: z.literal("sharegpt"),
      messages: requiredKey("messages column"),
      roleKey: requiredKey("role key"),
      contentKey: requiredKey("content key"),
      userTag: requiredKey("user role value"),
      assistantTag: requiredKey("assistant role value"),
      systemTag: sourceKey.default(""),
    }),
    z.object({ format: z.literal("openai"), messages: requiredKey("messages column") }),
    // Preference pairs (alpaca with `ranking: true`): one prompt, a chosen and a rejected answer.
    z.object({
      format: z.literal("preference"),
      instruction: requiredKey("prompt column"),
      input: sourceKey.default(""),
      chosen: requiredKey("chosen answer column"),
      rejected: requiredKey("rejected answer column"),
      system: sourceKey.default(""),
    }),
    // KTO: a supervised alpaca record plus a true/false column (desirable or not).
    z.object({
      format: z.literal("kto"),
      instruction: requiredKey("prompt column"),
      input: sourceKey.default(""),
      output: requiredKey("answer column"),
      ktoTag: requiredKey("desirable flag column"),
      system: sourceKey.default(""),
    }),
    // Pre-training documents: one text column.
    z.object({ format: z.literal("text"), text: requiredKey("text column") }),
  ],
  { error: "choose alpaca, sharegpt, OpenAI messages, preference pairs, KTO or pre-training text" },
);
export type ImportMapping = z.infer<typeof importMappingSchema>;
export type ImportMappingInput = z.input<typeof importMappingSchema>;

export const uploadIdSchema = z.string().regex(/^[0-9a-f-]{36}\.(json|jsonl|csv)$/, "unknown upload; upload the file again");

export const importCommitSchema = z.object({
  uploadId: uploadIdSchema,
  name: datasetNameSchema,
  mapping: importMappingSchema,
});

/** The records render with the trainer's templates: the run config's list. */
export const RENDER_TEMPLATES = TEMPLATES;

export const renderRequestSchema = z.object({
  dataset: z.string().min(1, "choose a dataset"),
  model: z.string().min(1, "choose a model").max(1000),
  template: z.enum(RENDER_TEMPLATES, { error: `template must be one of ${RENDER_TEMPLATES.join(", ")}` }),
  record: recordIndexSchema,
  cutoffLen: z.coerce
    .number({ error: "cutoff length must be a number" })
    .int("cutoff length must be a whole number")
    .min(1, "cutoff length must be at least 1")
    .max(1_048_576, "cutoff length must be at most 1048576"),
});
export type RenderRequest = z.infer<typeof renderRequestSchema>;

const renderedTokenSchema = z.object({ id: z.number().int(), text: z.string(), trained: z.boolean() });
const renderedSideSchema = z.object({ tokens: z.array(renderedTokenSchema), num_tokens: z.number().int(), num_trained: z.number().int() });

/** render.py's answer (worker/trainer/tuneboard_trainer/render.py). */
export const renderResultSchema = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    dataset: z.string(),
    template: z.string(),
    record: z.number().int(),
    num_records: z.number().int(),
    tokens: z.array(renderedTokenSchema),
    num_tokens: z.number().int(),
    num_trained: z.number().int(),
    truncated: z.boolean(),
    full_length: z.number().int(),
    cutoff_len: z.number().int(),
    lengths: z.array(z.number().int()),
    over_cutoff: z.number().int(),
    /** Preference records: the prompt with the rejected answer (the main tokens hold the chosen one). */
    rejected: renderedSideSchema.optional(),
    /** KTO records: the answer's tag. */
    desirable: z.boolean().optional(),
  }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);
export type RenderResult = Extract<z.infer<typeof renderResultSchema>, { ok: true }>;

/** The upload route's answer (app/api/datasets/import/route.ts), parsed again by the import form. */
export const uploadAnswerSchema = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    uploadId: z.string(),
    fileName: z.string(),
    count: z.number().int(),
    columns: z.array(z.string()),
    sample: z.array(z.unknown()),
  }),
  z.object({ ok: z.literal(false), field: z.string(), message: z.string() }),
]);
