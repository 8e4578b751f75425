import { describe, expect, it } from "vitest";
import { activationValuesPerTokenPerLayer, estimateMemory, freezeParams, loraParams, OVERHEAD_BYTES, type MemoryInput } from "./memory";
import { countParams, shapeFromConfig } from "./shape";
import { LLAMA31_8B } from "./test-shapes";

const llama8b = LLAMA31_8B;
const GiB = 2 ** 30;

const base: MemoryInput = {
  shape: llama8b,
  method: "lora",
  computeType: "bf16",
  loraRank: 8,
  loraTarget: "all",
  useDora: false,
  freezeLayers: 2,
  freezeModules: "all",
  batchSize: 2,
  cutoffLen: 2048,
  gradientCheckpointing: true,
};

describe("parameter counts", () => {
  it("match the published sizes (Llama 3.1 8B: 8,030,261,248)", () => {
    expect(countParams(llama8b)).toBe(8_030_261_248);
  });
  it("LoRA rank 8 on all linear layers of Llama 3.1 8B is 20,971,520 parameters (what peft reports)", () => {
    expect(loraParams(llama8b, 8, "all", false)).toBe(20_971_520);
    // q and v only: 32 · 8 · ((4096+4096) + (4096+1024)) = 3,407,872
    expect(loraParams(llama8b, 8, ["q_proj", "v_proj"], false)).toBe(3_407_872);
    // DoRA adds one magnitude per output feature of each wrapped layer.
    expect(loraParams(llama8b, 8, ["q_proj"], true) - loraParams(llama8b, 8, ["q_proj"], false)).toBe(32 * 4096);
    // Fused layers (Phi-3, GLM) are one adapter each: qkv_proj 4096 -> 4096 + 2·1024, gate_up_proj 4096 -> 2·14336.
    expect(loraParams(llama8b, 8, ["qkv_proj"], false)).toBe(32 * 8 * (4096 + 6144));
    expect(loraParams(llama8b, 8, ["gate_up_proj"], false)).toBe(32 * 8 * (4096 + 28672));
  });
  it("freeze trains the last N blocks, whole or by module group", () => {
    const all = freezeParams(llama8b, 2, "all");
    const mlp = freezeParams(llama8b, 2, "mlp");
    expect(mlp).toBe(2 * 3 * 4096 * 14336);
    expect(all).toBeGreaterThan(mlp);
    expect(freezeParams(llama8b, 99, "all")).toBe(freezeParams(llama8b, 32, "all"));
  });
});

describe("estimateMemory", () => {
  it("breaks a LoRA run down: bf16 weights, fp32 adapter + grads + Adam states, activations, logits", () => {
    const e = estimateMemory(base, countParams(llama8b));
    const lora = 20_971_520;
    expect(e.trainableParams).toBe(lora);
    expect(e.parts.weights).toBe(8_030_261_248 * 2);
    expect(e.parts.trainable).toBe(lora * 4);
    expect(e.parts.gradients).toBe(lora * 4);
    expect(e.parts.optimizer).toBe(lora * 8);
    expect(e.tokensPerStep).toBe(4096);
    expect(e.parts.logits).toBe(4096 * 128256 * (2 + 4 + 4));
    expect(e.parts.overhead).toBe(OVERHEAD_BYTES);
    expect(e.totalBytes).toBe(Object.values(e.parts).reduce((a, b) => a + b, 0));
    // In the range people report for an 8B bf16 LoRA at batch 2 × 2048 with checkpointing.
    expect(e.totalBytes / GiB).toBeGreaterThan(18);
    expect(e.totalBytes / GiB).toBeLessThan(24);
  });

  it("gradient checkpointing keeps one block's activations plus each block's input", () => {
    const on = estimateMemory(base, countParams(llama8b)).parts.activations;
    const off = estimateMemory({ ...base, gradientCheckpointing: false }, countParams(llama8b)).parts.activations;
    const per = activationValuesPerTokenPerLayer(llama8b);
    expect(on).toBe(4096 * (32 * 4096 + per + 2 * 4096) * 2);
    expect(off).toBe(4096 * (32 * per + 2 * 4096) * 2);
    expect(off / on).toBeGreaterThan(10);
  });

  it("activations and logits grow linearly with the tokens per step; weights do not", () => {
    const a = estimateMemory(base, countParams(llama8b));
    const b = estimateMemory({ ...base, batchSize: 4 }, countParams(llama8b));
    expect(b.parts.activations).toBe(2 * a.parts.activations);
    expect(b.parts.logits).toBe(2 * a.parts.logits);
    expect(b.parts.weights).toBe(a.parts.weights);
  });

  it("fp32 doubles the weights; full fine-tuning pays gradients and two Adam moments for every weight", () => {
    const fp32 = estimateMemory({ ...base, computeType: "fp32" }, countParams(llama8b));
    expect(fp32.parts.weights).toBe(8_030_261_248 * 4);
    const full = estimateMemory({ ...base, method: "full" }, countParams(llama8b));
    expect(full.trainableParams).toBe(8_030_261_248);
    expect(full.parts.gradients).toBe(8_030_261_248 * 2);
    expect(full.parts.optimizer).toBe(8_030_261_248 * 4);
    expect(full.parts.trainable).toBe(0);
    // auto is bf16 on a GPU
    expect(estimateMemory({ ...base, computeType: "auto" }, 1).dtypeBytes).toBe(2);
  });
});

describe("mixture of experts", () => {
  // Qwen3-30B-A3B's config.json sizes.
  const qwen3moe = shapeFromConfig("Qwen3MoeForCausalLM", {
    vocab_size: 151936, hidden_size: 2048, intermediate_size: 6144, num_hidden_layers: 48, num_attention_heads: 32,
    num_key_value_heads: 4, head_dim: 128, num_experts: 128, num_experts_per_tok: 8, moe_intermediate_size: 768,
  })!;

  it("keeps every expert resident and computes activations for the routed ones only", () => {
    const e = estimateMemory({ ...base, shape: qwen3moe }, countParams(qwen3moe));
    expect(e.parts.weights).toBe(countParams(qwen3moe) * 2); // all 128 experts of every layer, bf16
    const dense = { ...qwen3moe, moe: undefined };
    // Per token: 8 routed experts of width 768 (+ 128 router scores), not one MLP of width 6144.
    expect(activationValuesPerTokenPerLayer(qwen3moe) - activationValuesPerTokenPerLayer(dense)).toBe(4 * 8 * 768 + 128 - 4 * 6144);
  });

  it("puts LoRA on every expert where Qwen3-MoE's names match, on attention only for Mixtral", () => {
    const attention = loraParams(qwen3moe, 8, ["q_proj", "k_proj", "v_proj", "o_proj"], false);
    const all = loraParams(qwen3moe, 8, "all", false);
    expect(all - attention).toBe(48 * 128 * 8 * (3 * (2048 + 768)));
    const mixtral = shapeFromConfig("MixtralForCausalLM", {
      vocab_size: 32000, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32,
      num_key_value_heads: 8, num_local_experts: 8, num_experts_per_tok: 2,
    })!;
    expect(loraParams(mixtral, 8, "all", false)).toBe(loraParams(mixtral, 8, ["q_proj", "k_proj", "v_proj", "o_proj"], false));
  });
});

describe("estimateMemory with a quantized base (quantization_bit)", () => {
  // LLaMA-Factory's hardware table: an 8B LoRA needs about 16 GB in bf16, 10 GB in 8 bits, 6 GB in 4 bits.
  const small: MemoryInput = { ...base, batchSize: 1, cutoffLen: 512 };
  const total = countParams(llama8b);
  const projections = 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336);
  const largestDense = 4096 * 14336 * 2;

  it("an 8B 4-bit LoRA fits an 8 GB card; the same run in bf16 needs more than a 16 GB card", () => {
    const nf4 = estimateMemory({ ...small, quantizationBit: "4" }, total);
    const bf16 = estimateMemory({ ...small, quantizationBit: "none" }, total);
    expect(nf4.totalBytes).toBeLessThan(8 * GiB);
    expect(bf16.totalBytes).toBeGreaterThan(16 * GiB);
    const int8 = estimateMemory({ ...small, quantizationBit: "8" }, total);
    expect(int8.totalBytes).toBeGreaterThan(nf4.totalBytes);
    expect(int8.totalBytes).toBeLessThan(bf16.totalBytes);
  });

  it("stores projections at 4.5 bits (NF4 + double-quantized absmax) or 8 bits + fp32 channel scales; the rest in bf16", () => {
    expect(projections).toBe(6_979_321_856);
    const nf4 = estimateMemory({ ...small, quantizationBit: "4" }, total);
    expect(nf4.parts.weights).toBe((total - projections) * 2 + (projections * 4.5) / 8 + largestDense);
    const int8 = estimateMemory({ ...small, quantizationBit: "8" }, total);
    const scales = 32 * 4 * (4096 + 1024 + 1024 + 4096 + 14336 + 14336 + 4096);
    expect(int8.parts.weights).toBe((total - projections) * 2 + projections + scales + largestDense);
  });

  it("changes only the base weights: the adapter, its gradients and AdamW states stay fp32, activations as in bf16", () => {
    const nf4 = estimateMemory({ ...small, quantizationBit: "4" }, total);
    const bf16 = estimateMemory(small, total);
    for (const part of ["trainable", "gradients", "optimizer", "activations", "logits", "overhead"] as const) {
      expect(nf4.parts[part]).toBe(bf16.parts[part]);
    }
    expect(nf4.parts.trainable).toBe(20_971_520 * 4);
    expect(nf4.parts.optimizer).toBe(20_971_520 * 8);
  });
});
