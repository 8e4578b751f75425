// A decoder model's shapes, read from config.json, and what follows from them: the parameter count
// and the in/out width of every linear layer LoRA can wrap. Pure (no Node APIs): the Train form
// runs it in the browser to update the memory estimate as the user types.

export interface ModelShape {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  tieEmbeddings: boolean;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /** Qwen3: RMSNorm over head_dim on q and k. */
  qkNorm: boolean;
  /** Mixture of experts (Qwen3-MoE, Mixtral); absent for a dense model. */
  moe?: MoeShape;
}

/** The experts of a mixture-of-experts model: every sparse layer holds `experts` SwiGLU experts and a router. */
export interface MoeShape {
  experts: number;
  /** Experts each token is routed to (top k). */
  perToken: number;
  /** An expert's SwiGLU width. */
  expertSize: number;
  /** Layers that keep a dense MLP (Qwen3-MoE's mlp_only_layers and decoder_sparse_step). */
  denseLayers: number;
  /** Qwen3-MoE's experts name their layers gate/up/down_proj, so those LoRA targets wrap every expert;
   * Mixtral's are w1/w3/w2, which no LoRA target names. */
  expertsTakeMlpTargets: boolean;
}

/** Experts and routing as the trainer reads them (model_config.py's _moe_fields). */
function moeFromConfig(architecture: string, cfg: Record<string, unknown>, layers: number, intermediate: number): MoeShape | undefined {
  const experts = posInt(cfg.num_experts) ?? posInt(cfg.num_local_experts);
  if (architecture === "MixtralForCausalLM") {
    const perToken = posInt(cfg.num_experts_per_tok) ?? 2;
    return { experts: experts ?? 8, perToken, expertSize: intermediate, denseLayers: 0, expertsTakeMlpTargets: false };
  }
  if (architecture !== "Qwen3MoeForCausalLM") return undefined;
  const step = posInt(cfg.decoder_sparse_step) ?? 1;
  const only = new Set(Array.isArray(cfg.mlp_only_layers) ? cfg.mlp_only_layers : []);
  let denseLayers = 0;
  for (let i = 0; i < layers; i++) if (only.has(i) || (i + 1) % step) denseLayers++;
  return {
    experts: experts ?? 128,
    perToken: posInt(cfg.num_experts_per_tok) ?? 8,
    expertSize: posInt(cfg.moe_intermediate_size) ?? 768,
    denseLayers,
    expertsTakeMlpTargets: true,
  };
}

const posInt = (v: unknown): number | null => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : null);

/**
 * Shapes from a Hugging Face config.json, with the same per-architecture bias rules as the
 * trainer (worker/trainer/tuneboard_trainer/model.py); null when a required size is missing.
 */
export function shapeFromConfig(architecture: string, cfg: Record<string, unknown>): ModelShape | null {
  const vocabSize = posInt(cfg.vocab_size);
  const hiddenSize = posInt(cfg.hidden_size);
  const intermediateSize = posInt(cfg.intermediate_size);
  const layers = posInt(cfg.num_hidden_layers);
  const heads = posInt(cfg.num_attention_heads);
  if (!vocabSize || !hiddenSize || !intermediateSize || !layers || !heads) return null;
  const kvHeads = posInt(cfg.num_key_value_heads) ?? heads;
  const headDim = posInt(cfg.head_dim) ?? Math.floor(hiddenSize / heads);
  const attentionBias = cfg.attention_bias === true;
  let qkvBias = attentionBias;
  let oBias = attentionBias;
  let mlpBias = cfg.mlp_bias === true;
  if (architecture === "Qwen2ForCausalLM") [qkvBias, oBias, mlpBias] = [true, false, false];
  else if (architecture === "MistralForCausalLM") [qkvBias, oBias, mlpBias] = [false, false, false];
  else if (architecture === "Qwen3ForCausalLM") mlpBias = false;
  else if (architecture === "Qwen3MoeForCausalLM" || architecture === "MixtralForCausalLM") mlpBias = false;
  return {
    vocabSize,
    hiddenSize,
    intermediateSize,
    layers,
    heads,
    kvHeads,
    headDim,
    tieEmbeddings: cfg.tie_word_embeddings === true,
    qkvBias,
    oBias,
    mlpBias,
    qkNorm: architecture === "Qwen3ForCausalLM" || architecture === "Qwen3MoeForCausalLM",
    moe: moeFromConfig(architecture, cfg, layers, intermediateSize),
  };
}

export type LinearName = "q_proj" | "k_proj" | "v_proj" | "o_proj" | "gate_proj" | "up_proj" | "down_proj";

/** [in, out, hasBias] of each linear layer in one decoder block. */
export function linearShapes(s: ModelShape): Record<LinearName, [number, number, boolean]> {
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  return {
    q_proj: [s.hiddenSize, q, s.qkvBias],
    k_proj: [s.hiddenSize, kv, s.qkvBias],
    v_proj: [s.hiddenSize, kv, s.qkvBias],
    o_proj: [q, s.hiddenSize, s.oBias],
    gate_proj: [s.hiddenSize, s.intermediateSize, s.mlpBias],
    up_proj: [s.hiddenSize, s.intermediateSize, s.mlpBias],
    down_proj: [s.intermediateSize, s.hiddenSize, s.mlpBias],
  };
}

/** Parameters of one decoder block: its linear layers, two RMSNorms, Qwen3's q/k norms. */
export function blockParams(s: ModelShape): number {
  let n = 2 * s.hiddenSize + (s.qkNorm ? 2 * s.headDim : 0);
  for (const [i, o, bias] of Object.values(linearShapes(s))) n += i * o + (bias ? o : 0);
  return n;
}

/** Parameters of one sparse (MoE) block: attention and norms as a dense block, `experts` of its experts and
 * the router in place of the MLP. */
function sparseBlockParams(s: ModelShape, moe: MoeShape, experts: number): number {
  const lin = linearShapes(s);
  const mlp = [lin.gate_proj, lin.up_proj, lin.down_proj].reduce((n, [i, o, bias]) => n + i * o + (bias ? o : 0), 0);
  return blockParams(s) - mlp + experts * 3 * s.hiddenSize * moe.expertSize + s.hiddenSize * moe.experts;
}

/** All parameters: embeddings, blocks, final norm, and lm_head unless tied to the embeddings. MoE: every expert. */
export function countParams(s: ModelShape): number {
  return countWith(s, s.moe?.experts ?? 0);
}

/** Parameters one token computes with: MoE models count only the experts it is routed to; dense: all. */
export function activeParams(s: ModelShape): number {
  return countWith(s, s.moe?.perToken ?? 0);
}

function countWith(s: ModelShape, experts: number): number {
  const embed = s.vocabSize * s.hiddenSize;
  const blocks = s.moe
    ? s.moe.denseLayers * blockParams(s) + (s.layers - s.moe.denseLayers) * sparseBlockParams(s, s.moe, experts)
    : s.layers * blockParams(s);
  return embed + blocks + s.hiddenSize + (s.tieEmbeddings ? 0 : embed);
}

/** "17.2M", "8.03B": parameter counts the way model cards write them. */
export function formatParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(n >= 1e10 ? 1 : 2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}
