// GPU memory a training run will need, estimated from the model's shapes and the form's settings
// before anything is loaded. An estimate: it assumes CUDA with PyTorch's SDPA attention (no
// seq×seq score matrix is kept, as with the flash / memory-efficient kernels), batches padded to
// the cutoff length (the worst case), and a fixed allowance for the CUDA context. Pure, so the
// Train form recomputes it in the browser on every keystroke.
import { blockParams, linearShapes, type LinearName, type ModelShape } from "./shape";

export type Method = "lora" | "freeze" | "full";
export type ComputeType = "auto" | "bf16" | "fp16" | "fp32";
/** The run config's quantization_bit: the frozen base projections stored in 8 or 4 bits (LoRA only). */
export type QuantizationBit = "none" | "8" | "4";

/** A LoRA target as the run config names it: a linear layer, or the fused q/k/v and gate/up of Phi-3 and GLM. */
export type LoraTargetName = LinearName | "qkv_proj" | "gate_up_proj";

export interface MemoryInput {
  shape: ModelShape;
  method: Method;
  computeType: ComputeType;
  loraRank: number;
  loraTarget: "all" | LoraTargetName[];
  useDora: boolean;
  freezeLayers: number;
  /** "all" or comma-separated module names, as the form's field. */
  freezeModules: string;
  batchSize: number;
  cutoffLen: number;
  gradientCheckpointing: boolean;
  /** Absent: none (full-precision base weights). */
  quantizationBit?: QuantizationBit;
}

export type MemoryPart = "weights" | "trainable" | "gradients" | "optimizer" | "activations" | "logits" | "overhead";

export interface MemoryEstimate {
  /** Bytes per part, in display order. */
  parts: Record<MemoryPart, number>;
  totalBytes: number;
  trainableParams: number;
  /** Bytes per value of the base weights and activations. */
  dtypeBytes: number;
  tokensPerStep: number;
}

/** CUDA context, cuBLAS workspaces and allocator slack: a typical figure, not a measurement. */
export const OVERHEAD_BYTES = 0.75 * 2 ** 30;
export const ALL_LINEARS: LinearName[] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/** auto means bf16 on a GPU (what the trainer picks on CUDA). */
export function dtypeBytes(ct: ComputeType): number {
  return ct === "fp32" ? 4 : 2;
}

/** LoRA adds A (in×r) and B (r×out) per wrapped linear; DoRA adds a magnitude per output. */
export function loraParams(shape: ModelShape, rank: number, target: "all" | LoraTargetName[], dora: boolean): number {
  const lin = linearShapes(shape);
  const fused: Record<"qkv_proj" | "gate_up_proj", [number, number]> = {
    qkv_proj: [lin.q_proj[0], lin.q_proj[1] + lin.k_proj[1] + lin.v_proj[1]],
    gate_up_proj: [lin.gate_proj[0], lin.gate_proj[1] + lin.up_proj[1]],
  };
  const names = target === "all" ? ALL_LINEARS : target;
  let perLayer = 0;
  let mlpPerLayer = 0;
  for (const n of names) {
    const [i, o] = n === "qkv_proj" || n === "gate_up_proj" ? fused[n] : lin[n];
    const params = rank * (i + o) + (dora ? o : 0);
    if (MLP_NAMES.includes(n)) mlpPerLayer += params;
    else perLayer += params;
  }
  const moe = shape.moe;
  if (!moe) return (perLayer + mlpPerLayer) * shape.layers;
  // MoE: dense layers as above; sparse layers wrap each expert (of the expert's width) where the names match.
  const expertShape = { ...shape, intermediateSize: moe.expertSize, moe: undefined };
  const expertMlp = moe.expertsTakeMlpTargets
    ? moe.experts * (loraParams(expertShape, rank, names.filter((n) => MLP_NAMES.includes(n)), dora))
    : 0;
  const sparse = shape.layers - moe.denseLayers;
  return perLayer * shape.layers + mlpPerLayer * moe.denseLayers + (expertMlp / shape.layers) * sparse;
}

const MLP_NAMES: LoraTargetName[] = ["gate_proj", "up_proj", "down_proj", "gate_up_proj"];

const MODULE_GROUPS: Record<string, LinearName[]> = {
  mlp: ["gate_proj", "up_proj", "down_proj"],
  self_attn: ["q_proj", "k_proj", "v_proj", "o_proj"],
};

/** Freeze: the last N blocks train, all of each block or the named modules in it. */
export function freezeParams(shape: ModelShape, layers: number, modules: string): number {
  const n = Math.min(Math.abs(layers), shape.layers);
  const names = modules.split(",").map((m) => m.trim()).filter(Boolean);
  if (names.length === 0 || names.includes("all")) return n * blockParams(shape);
  const lin = linearShapes(shape);
  const picked = new Set<LinearName>();
  for (const m of names) {
    for (const l of MODULE_GROUPS[m] ?? (m in lin ? [m as LinearName] : [])) picked.add(l);
  }
  let perLayer = 0;
  for (const l of picked) {
    const [i, o, bias] = lin[l];
    perLayer += i * o + (bias ? o : 0);
  }
  return n * perLayer;
}

/** Bits per stored weight of a quantized projection: NF4's 4 bits plus its double-quantized absmax (one 8-bit
 * absmax per 64 weights, one fp32 scale per 256 absmax) rounded up to 4.5, as the QLoRA paper budgets; 8-bit
 * is one byte per weight (its fp32 per-output-channel scale is counted separately). */
export const QUANTIZED_WEIGHT_BITS: Record<Exclude<QuantizationBit, "none">, number> = { "4": 4.5, "8": 8 };

/** Bytes of the base weights: projections quantized (plus 8-bit's per-channel scales and the one projection the
 * reference path dequantizes at a time, in the compute dtype); embeddings, norms, biases and lm_head in `b`. */
export function baseWeightBytes(shape: ModelShape, totalParams: number, b: number, bits: QuantizationBit): number {
  if (bits === "none") return totalParams * b;
  const lin = Object.values(linearShapes(shape));
  const projection = shape.layers * lin.reduce((a, [i, o]) => a + i * o, 0);
  const scales = bits === "8" ? shape.layers * lin.reduce((a, [, o]) => a + 4 * o, 0) : 0;
  const largestDense = Math.max(...lin.map(([i, o]) => i * o)) * b;
  return (totalParams - projection) * b + (projection * QUANTIZED_WEIGHT_BITS[bits]) / 8 + scales + largestDense;
}

/** Values kept for backward per token in one block (norm inputs/outputs, q/k/v, attention output, MLP). MoE: the
 * MLP part is each token's routed experts (top k of them) and the router's scores. */
export function activationValuesPerTokenPerLayer(s: ModelShape): number {
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  const mlp = s.moe ? 4 * s.moe.perToken * s.moe.expertSize + s.moe.experts : 4 * s.intermediateSize;
  return 4 * s.hiddenSize + 2 * q + 2 * kv + mlp;
}

export function estimateMemory(input: MemoryInput, totalParams: number): MemoryEstimate {
  const { shape } = input;
  const b = dtypeBytes(input.computeType);
  const tokens = Math.max(1, input.batchSize) * Math.max(1, input.cutoffLen);

  let trainableParams: number;
  let trainable = 0;
  let gradients: number;
  let optimizer: number;
  if (input.method === "lora") {
    trainableParams = loraParams(shape, input.loraRank, input.loraTarget, input.useDora);
    // Adapter weights, their gradients and both Adam moments are fp32 (4 bytes each).
    trainable = trainableParams * 4;
    gradients = trainableParams * 4;
    optimizer = trainableParams * 8;
  } else {
    trainableParams = input.method === "full" ? totalParams : freezeParams(shape, input.freezeLayers, input.freezeModules);
    // The trained weights are the base weights themselves; gradients and Adam moments follow their dtype.
    gradients = trainableParams * b;
    optimizer = trainableParams * 2 * b;
  }

  const perLayer = activationValuesPerTokenPerLayer(shape);
  // With checkpointing each block keeps only its input; one block's activations are rebuilt at a time.
  const kept = input.gradientCheckpointing ? shape.layers * shape.hiddenSize + perLayer : shape.layers * perLayer;
  const activations = tokens * (kept + 2 * shape.hiddenSize) * b;
  // Logits in the compute dtype, the fp32 copy cross-entropy works on, and its gradient.
  const logits = tokens * shape.vocabSize * (b + 4 + 4);

  const parts: Record<MemoryPart, number> = {
    weights: input.method === "lora" ? baseWeightBytes(shape, totalParams, b, input.quantizationBit ?? "none") : totalParams * b,
    trainable,
    gradients,
    optimizer,
    activations,
    logits,
    overhead: OVERHEAD_BYTES,
  };
  const totalBytes = Object.values(parts).reduce((a, x) => a + x, 0);
  return { parts, totalBytes, trainableParams, dtypeBytes: b, tokensPerStep: tokens };
}

export function formatGiB(bytes: number): string {
  const gib = bytes / 2 ** 30;
  return gib >= 10 ? `${gib.toFixed(1)} GiB` : gib >= 0.01 ? `${gib.toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
