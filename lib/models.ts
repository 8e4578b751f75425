// Model directories: Hugging Face layout (config.json + safetensors + tokenizer files) found
// under the configured model roots. A path the browser names must resolve inside a root.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";

// The same list as the trainer's (worker/trainer/tuneboard_trainer/model.py), checked at submit time.
export const SUPPORTED_ARCHITECTURES = ["LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "MistralForCausalLM"] as const;

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
  if (!files.includes("tokenizer.json")) throw new ModelPathError(`no tokenizer.json in ${dir}`);
  let meta: z.infer<typeof tuneboardMeta> = {};
  const metaFile = path.join(dir, "tuneboard.json");
  if (fs.existsSync(metaFile)) {
    const parsed = tuneboardMeta.safeParse(JSON.parse(fs.readFileSync(metaFile, "utf8")));
    if (parsed.success) meta = parsed.data;
  }
  return {
    name: path.basename(dir),
    path: dir,
    architecture: arch,
    hiddenSize: cfg.hidden_size ?? null,
    layers: cfg.num_hidden_layers ?? null,
    contextLength: cfg.max_position_embeddings ?? null,
    demo: meta.demo === true,
    description: meta.description ?? null,
    preset: meta.preset ?? null,
  };
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
