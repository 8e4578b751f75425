// Model directories: Hugging Face layout (config.json + safetensors + tokenizer files) found
// under the configured model roots. A path the browser names must resolve inside a root.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { activeParams, countParams, shapeFromConfig, type ModelShape } from "@/lib/estimate/shape";
import { TEMPLATES } from "@/lib/schemas/run-config";

// The same list as the trainer's (worker/trainer/tuneboard_trainer/model.py), checked at submit time.
export const SUPPORTED_ARCHITECTURES = [
  "LlamaForCausalLM",
  "Qwen2ForCausalLM",
  "Qwen3ForCausalLM",
  "MistralForCausalLM",
  "Gemma2ForCausalLM",
  "Gemma3ForCausalLM",
  "Phi3ForCausalLM",
  "GlmForCausalLM",
  "Glm4ForCausalLM",
  "Qwen3MoeForCausalLM",
  "MixtralForCausalLM",
] as const;

const hfConfig = z
  .object({
    architectures: z.array(z.string()).optional(),
    model_type: z.string().optional(),
    hidden_size: z.number().optional(),
    num_hidden_layers: z.number().optional(),
    max_position_embeddings: z.number().optional(),
    vocab_size: z.number().optional(),
  })
  .passthrough();

const tuneboardMeta = z
  .object({
    demo: z.boolean().optional(),
    description: z.string().optional(),
    preset: z.record(z.string(), z.unknown()).optional(),
  })
  .passthrough();

export interface ModelInfo {
  name: string;
  path: string;
  architecture: string;
  hiddenSize: number | null;
  layers: number | null;
  contextLength: number | null;
  vocabSize: number | null;
  /** Shapes for the parameter count and the memory estimate (null when config.json lacks a size). */
  shape: ModelShape | null;
  /** Parameters counted from the safetensors headers (exact) or, failing that, from config.json. */
  parameterCount: number | null;
  parameterSource: "safetensors" | "config" | null;
  /** Mixture of experts: the parameters one token computes with (its routed experts); null for a dense model. */
  activeParameterCount: number | null;
  /** dtype of the stored weights (from the safetensors headers), e.g. BF16. */
  weightDtype: string | null;
  /** The chat template the model most likely uses (see guessTemplate). */
  templateGuess: (typeof TEMPLATES)[number];
  demo: boolean;
  description: string | null;
  preset: Record<string, unknown> | null;
}

export class ModelPathError extends Error {}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  // Whole segments: "..%2fx" or "..notes" inside a root is a name, not a way out.
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** Resolve a user-named model path (absolute, or relative to a root) inside the model roots. */
export function resolveModelPath(roots: string[], named: string): string {
  for (const root of roots) {
    const candidate = path.resolve(root, named);
    if (!isInside(root, candidate)) continue;
    let real: string;
    try {
      real = fs.realpathSync(candidate);
    } catch {
      continue;
    }
    const realRoot = fs.existsSync(root) ? fs.realpathSync(root) : root;
    if (isInside(realRoot, real)) return real;
  }
  const inside = roots.some((root) => isInside(root, path.resolve(root, named)));
  throw new ModelPathError(
    inside ? `model path does not exist: ${named}` : `model path must be inside the model roots (${roots.join(", ")})`,
  );
}

/** Read and check a model directory; throws ModelPathError with a user-facing message. */
export function inspectModel(dir: string): ModelInfo {
  const configFile = path.join(dir, "config.json");
  if (!fs.existsSync(configFile)) throw new ModelPathError(`not a model directory (no config.json): ${dir}`);
  let cfg: z.infer<typeof hfConfig>;
  try {
    cfg = hfConfig.parse(JSON.parse(fs.readFileSync(configFile, "utf8")));
  } catch {
    throw new ModelPathError(`config.json is not valid: ${configFile}`);
  }
  const arch = cfg.architectures?.[0] ?? cfg.model_type ?? "unknown";
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new ModelPathError(`unsupported architecture ${arch} (supported: ${SUPPORTED_ARCHITECTURES.join(", ")})`);
  }
  const files = fs.readdirSync(dir);
  if (!files.some((f) => f.endsWith(".safetensors") || f === "model.safetensors.index.json")) {
    throw new ModelPathError(`no safetensors weights in ${dir}`);
  }
  if (!files.includes("tokenizer.json")) {
    throw new ModelPathError(`no tokenizer files in ${dir}: tokenizer.json (and tokenizer_config.json) are needed; copy them from the base model`);
  }
  checkTokenizerFits(dir, cfg.vocab_size);
  let meta: z.infer<typeof tuneboardMeta> = {};
  const metaFile = path.join(dir, "tuneboard.json");
  if (fs.existsSync(metaFile)) {
    const parsed = tuneboardMeta.safeParse(JSON.parse(fs.readFileSync(metaFile, "utf8")));
    if (parsed.success) meta = parsed.data;
  }
  const shape = shapeFromConfig(arch, cfg);
  const stored = safetensorsParams(dir, files);
  return {
    name: path.basename(dir),
    path: dir,
    architecture: arch,
    hiddenSize: cfg.hidden_size ?? null,
    layers: cfg.num_hidden_layers ?? null,
    contextLength: cfg.max_position_embeddings ?? null,
    vocabSize: cfg.vocab_size ?? null,
    shape,
    parameterCount: stored?.count ?? (shape ? countParams(shape) : null),
    parameterSource: stored ? "safetensors" : shape ? "config" : null,
    activeParameterCount: shape?.moe ? activeParams(shape) : null,
    weightDtype: stored?.dtype ?? null,
    templateGuess: guessTemplate(arch, readChatTemplate(dir)),
    demo: meta.demo === true,
    description: meta.description ?? null,
    preset: meta.preset ?? null,
  };
}

const tokenizerFile = z
  .object({
    model: z.object({ vocab: z.union([z.record(z.string(), z.number()), z.array(z.unknown())]).optional() }).passthrough().optional(),
    added_tokens: z.array(z.object({ id: z.number() }).passthrough()).optional(),
  })
  .passthrough();

/** The highest token id tokenizer.json can produce: its vocabulary (BPE/WordPiece map, Unigram list) and added tokens. */
export function maxTokenizerId(file: string): number | null {
  let tok: z.infer<typeof tokenizerFile>;
  try {
    tok = tokenizerFile.parse(JSON.parse(fs.readFileSync(file, "utf8")));
  } catch {
    return null;
  }
  const vocab = tok.model?.vocab;
  let max = -1;
  if (Array.isArray(vocab)) max = vocab.length - 1;
  else if (vocab) for (const id of Object.values(vocab)) max = Math.max(max, id);
  for (const t of tok.added_tokens ?? []) max = Math.max(max, t.id);
  return max >= 0 ? max : null;
}

/** A tokenizer that yields ids the model has no embedding for belongs to another model: say so before a run. */
function checkTokenizerFits(dir: string, vocabSize: number | undefined): void {
  if (!vocabSize) return;
  const max = maxTokenizerId(path.join(dir, "tokenizer.json"));
  if (max !== null && max >= vocabSize) {
    throw new ModelPathError(
      `the tokenizer in ${dir} has token ids up to ${max}, but the model's vocabulary (config.json vocab_size) has ${vocabSize} entries: the tokenizer belongs to another model`,
    );
  }
}

const tensorEntry = z.object({ dtype: z.string(), shape: z.array(z.number().int().min(0)) });
/** Headers are small (a few KB to a few MB); anything bigger is not a safetensors header. */
const MAX_HEADER_BYTES = 100 * 2 ** 20;

/**
 * Tensor dtypes and shapes from one safetensors file's header: the first 8 bytes give the
 * header length (little-endian u64), then a JSON object. Only the header is read, never the weights.
 */
export function readSafetensorsHeader(file: string): Record<string, { dtype: string; shape: number[] }> {
  const fd = fs.openSync(file, "r");
  try {
    const len = Buffer.alloc(8);
    if (fs.readSync(fd, len, 0, 8, 0) !== 8) throw new Error("file too short");
    const n = len.readBigUInt64LE(0);
    if (n <= 0n || n > BigInt(MAX_HEADER_BYTES)) throw new Error(`implausible header length ${n}`);
    const buf = Buffer.alloc(Number(n));
    if (fs.readSync(fd, buf, 0, buf.length, 8) !== buf.length) throw new Error("truncated header");
    const raw = JSON.parse(buf.toString("utf8")) as Record<string, unknown>;
    const out: Record<string, { dtype: string; shape: number[] }> = {};
    for (const [name, v] of Object.entries(raw)) {
      if (name === "__metadata__") continue;
      out[name] = tensorEntry.parse(v);
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Sum of tensor sizes over the model's safetensors files (a sharded index names its shards). */
function safetensorsParams(dir: string, files: string[]): { count: number; dtype: string | null } | null {
  let shards: string[];
  if (files.includes("model.safetensors.index.json")) {
    try {
      const index = z
        .object({ weight_map: z.record(z.string(), z.string()) })
        .parse(JSON.parse(fs.readFileSync(path.join(dir, "model.safetensors.index.json"), "utf8")));
      // Shard names are bare file names in this directory; anything with a separator is ignored.
      shards = [...new Set(Object.values(index.weight_map))].filter((f) => path.basename(f) === f);
    } catch {
      return null;
    }
  } else {
    shards = files.filter((f) => f.endsWith(".safetensors"));
  }
  if (shards.length === 0) return null;
  let count = 0;
  const dtypes = new Map<string, number>();
  try {
    for (const shard of shards) {
      for (const t of Object.values(readSafetensorsHeader(path.join(dir, shard)))) {
        const n = t.shape.reduce((a, x) => a * x, 1);
        count += n;
        dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + n);
      }
    }
  } catch {
    return null;
  }
  const dtype = [...dtypes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
  return { count, dtype };
}

function readChatTemplate(dir: string): string | null {
  try {
    const tc = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")) as { chat_template?: unknown };
    if (typeof tc.chat_template === "string") return tc.chat_template;
    // Some tokenizers list several named templates; the "default" one is what chat uses.
    if (Array.isArray(tc.chat_template)) {
      const d = tc.chat_template.find((x: { name?: string; template?: string }) => x?.name === "default");
      return typeof d?.template === "string" ? d.template : null;
    }
  } catch {
    /* no or unreadable tokenizer_config.json */
  }
  return null;
}

/**
 * The chat template a model most likely uses: recognised from the markers in its tokenizer's
 * chat_template, else from the architecture; a template we do not recognise is used as is
 * ("tokenizer"), and a model without one gets the plain "default" template.
 */
export function guessTemplate(architecture: string, chatTemplate: string | null): (typeof TEMPLATES)[number] {
  if (chatTemplate) {
    if (chatTemplate.includes("<|start_header_id|>")) return "llama3";
    if (chatTemplate.includes("<start_of_turn>")) return architecture === "Gemma3ForCausalLM" ? "gemma3" : "gemma";
    if (chatTemplate.includes("<|im_sep|>")) return "phi4"; // before qwen: Phi-4 also opens turns with <|im_start|>
    // DeepSeek-R1 distills keep their base's architecture (Qwen2, Llama) with DeepSeek's turn markers.
    if (chatTemplate.includes("<｜Assistant｜>")) return "deepseekr1";
    if (chatTemplate.includes("<|im_start|>")) return chatTemplate.includes("<think>") ? "qwen3" : "qwen";
    if (chatTemplate.includes("[gMASK]")) return "glm4";
    if (chatTemplate.includes("<|end|>") && chatTemplate.includes("<|assistant|>")) return "phi";
    if (chatTemplate.includes("[INST]")) return architecture === "MistralForCausalLM" ? "mistral" : "llama2";
    return "tokenizer";
  }
  const byArchitecture: Record<string, (typeof TEMPLATES)[number]> = {
    Qwen2ForCausalLM: "qwen",
    Qwen3ForCausalLM: "qwen3",
    Qwen3MoeForCausalLM: "qwen3",
    MistralForCausalLM: "mistral",
    MixtralForCausalLM: "mistral",
    Gemma2ForCausalLM: "gemma",
    Gemma3ForCausalLM: "gemma3",
    Phi3ForCausalLM: "phi",
    GlmForCausalLM: "glm4",
    Glm4ForCausalLM: "glm4",
  };
  return byArchitecture[architecture] ?? "default";
}

/** Every model directory directly under each root (unreadable ones are skipped). */
export function listModels(roots: string[]): ModelInfo[] {
  const out: ModelInfo[] = [];
  for (const root of roots) {
    if (!fs.existsSync(root)) continue;
    for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      try {
        out.push(inspectModel(path.join(root, entry.name)));
      } catch {
        /* not a model directory */
      }
    }
  }
  return out.sort((a, b) => Number(b.demo) - Number(a.demo) || a.name.localeCompare(b.name));
}
