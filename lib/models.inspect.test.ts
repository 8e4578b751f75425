// Model inspection on real files: the bundled demo model, and small model directories written
// here with a real safetensors header (no weights are ever loaded; the data part is zeros).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { guessTemplate, inspectModel, readSafetensorsHeader } from "./models";
import { activeParams, countParams, formatParams, shapeFromConfig } from "./estimate/shape";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tb-models-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeSafetensors(file: string, tensors: Record<string, { dtype: string; shape: number[] }>) {
  let offset = 0;
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const size = { F32: 4, BF16: 2, F16: 2 } as Record<string, number>;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = t.shape.reduce((a, x) => a * x, 1) * size[t.dtype];
    header[name] = { ...t, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, Buffer.alloc(offset)]));
}

function modelDir(name: string, config: Record<string, unknown>, extra: Record<string, string> = {}): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config));
  fs.writeFileSync(path.join(dir, "tokenizer.json"), "{}");
  for (const [f, text] of Object.entries(extra)) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}

const qwenConfig = {
  architectures: ["Qwen2ForCausalLM"],
  vocab_size: 100,
  hidden_size: 16,
  intermediate_size: 40,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 32768,
  tie_word_embeddings: false,
};

describe("inspectModel", () => {
  it("reads the demo model: Llama, 4 layers, 2048 context, llama3 template, params from the safetensors header", () => {
    const m = inspectModel(path.resolve("data/models/tuneboard-demo"));
    expect(m.architecture).toBe("LlamaForCausalLM");
    expect(m.layers).toBe(4);
    expect(m.contextLength).toBe(2048);
    expect(m.templateGuess).toBe("llama3");
    expect(m.parameterSource).toBe("safetensors");
    expect(m.weightDtype).toBe("F32");
    // Tied embeddings: 128256×128 + 4 blocks of (4·128² + 3·128·344 + 2·128) + the final norm.
    expect(m.parameterCount).toBe(128256 * 128 + 4 * (4 * 128 * 128 + 3 * 128 * 344 + 2 * 128) + 128);
    // The shape-based count agrees with the stored tensors.
    expect(countParams(m.shape!)).toBe(m.parameterCount);
  });

  it("counts a sharded model's parameters from every shard's header and takes the main dtype", () => {
    const dir = modelDir("sharded", qwenConfig, {
      "tokenizer_config.json": JSON.stringify({ chat_template: "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}" }),
      "model.safetensors.index.json": JSON.stringify({
        weight_map: { "a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors", "c": "../escape.safetensors" },
      }),
    });
    writeSafetensors(path.join(dir, "model-00001-of-00002.safetensors"), { "a.weight": { dtype: "BF16", shape: [100, 16] } });
    writeSafetensors(path.join(dir, "model-00002-of-00002.safetensors"), {
      "b.weight": { dtype: "BF16", shape: [16, 40] },
      "b.norm": { dtype: "F32", shape: [16] },
    });
    const m = inspectModel(dir);
    expect(m.parameterCount).toBe(1600 + 640 + 16);
    expect(m.parameterSource).toBe("safetensors");
    expect(m.weightDtype).toBe("BF16");
    expect(m.templateGuess).toBe("qwen");
  });

  it("falls back to the config.json shapes when a header is unreadable", () => {
    const dir = modelDir("broken-header", qwenConfig);
    fs.writeFileSync(path.join(dir, "model.safetensors"), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    const m = inspectModel(dir);
    expect(m.parameterSource).toBe("config");
    const s = shapeFromConfig("Qwen2ForCausalLM", qwenConfig)!;
    // Qwen2: q/k/v biases, no o bias; untied lm_head; head_dim = 16/4 = 4, kv width 2·4 = 8.
    const block = 16 * 16 + 16 + (16 * 8 + 8) * 2 + 16 * 16 + 3 * 16 * 40 + 2 * 16;
    expect(countParams(s)).toBe(2 * 100 * 16 + 2 * block + 16);
    expect(m.parameterCount).toBe(countParams(s));
    expect(m.contextLength).toBe(32768);
  });

  it("refuses a header whose length is implausible instead of allocating it", () => {
    const f = path.join(tmp, "huge.safetensors");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(1n << 40n);
    fs.writeFileSync(f, len);
    expect(() => readSafetensorsHeader(f)).toThrow(/implausible/);
  });
});

describe("guessTemplate", () => {
  it("recognises the chat template markers, then falls back on the architecture", () => {
    expect(guessTemplate("LlamaForCausalLM", "<|start_header_id|>{{ role }}")).toBe("llama3");
    expect(guessTemplate("MistralForCausalLM", "[INST] {{ x }} [/INST]")).toBe("mistral");
    expect(guessTemplate("LlamaForCausalLM", "[INST] {{ x }} [/INST]")).toBe("llama2");
    expect(guessTemplate("LlamaForCausalLM", "{{ something new }}")).toBe("tokenizer");
    expect(guessTemplate("Qwen3ForCausalLM", null)).toBe("qwen3");
    expect(guessTemplate("LlamaForCausalLM", null)).toBe("default");
  });

  it("knows the Gemma, Phi and GLM-4 templates by their markers and by architecture", () => {
    const gemma = "{{ bos_token }}<start_of_turn>{{ role }}\n{{ content }}<end_of_turn>";
    expect(guessTemplate("Gemma2ForCausalLM", gemma)).toBe("gemma");
    expect(guessTemplate("Gemma3ForCausalLM", gemma)).toBe("gemma3");
    expect(guessTemplate("Phi3ForCausalLM", "<|im_start|>{{ role }}<|im_sep|>{{ content }}<|im_end|>")).toBe("phi4");
    expect(guessTemplate("Phi3ForCausalLM", "<|user|>\n{{ content }}<|end|>\n<|assistant|>\n")).toBe("phi");
    expect(guessTemplate("Glm4ForCausalLM", "[gMASK]<sop>{% for m in messages %}<|{{ m.role }}|>")).toBe("glm4");
    expect(guessTemplate("Gemma3ForCausalLM", null)).toBe("gemma3");
    expect(guessTemplate("Phi3ForCausalLM", null)).toBe("phi");
    expect(guessTemplate("GlmForCausalLM", null)).toBe("glm4");
  });
});

describe("formatParams", () => {
  it("writes counts the way model cards do", () => {
    expect(formatParams(17_208_448)).toBe("17.2M");
    expect(formatParams(8_030_261_248)).toBe("8.03B");
    expect(formatParams(70_553_706_496)).toBe("70.6B");
  });
});

describe("GLM, Gemma, Phi and MoE families in the picker", () => {
  it("guesses the reasoning templates: Qwen3's <think> and the DeepSeek-R1 distills' markers", () => {
    expect(guessTemplate("Qwen3ForCausalLM", "<|im_start|>{{ role }}\n{{ content }}<think>\n\n</think>")).toBe("qwen3");
    expect(guessTemplate("Qwen3MoeForCausalLM", null)).toBe("qwen3");
    expect(guessTemplate("Qwen2ForCausalLM", "<|im_start|>{{ role }}\n{{ content }}<|im_end|>")).toBe("qwen");
    expect(guessTemplate("Qwen2ForCausalLM", "{{ bos_token }}<｜User｜>{{ c }}<｜Assistant｜>")).toBe("deepseekr1");
    expect(guessTemplate("LlamaForCausalLM", "{{ bos_token }}<｜User｜>{{ c }}<｜Assistant｜>")).toBe("deepseekr1");
  });

  it("counts a mixture of experts' total and active parameters as their model cards do", () => {
    const qwen3moe = shapeFromConfig("Qwen3MoeForCausalLM", {
      vocab_size: 151936, hidden_size: 2048, intermediate_size: 6144, num_hidden_layers: 48, num_attention_heads: 32,
      num_key_value_heads: 4, head_dim: 128, num_experts: 128, num_experts_per_tok: 8, moe_intermediate_size: 768,
    })!;
    expect(countParams(qwen3moe) / 1e9).toBeCloseTo(30.53, 1); // Qwen3-30B-A3B: 30.5B total
    expect(activeParams(qwen3moe) / 1e9).toBeCloseTo(3.35, 1); // 3.3B activated
    const mixtral = shapeFromConfig("MixtralForCausalLM", {
      vocab_size: 32000, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32,
      num_key_value_heads: 8, num_local_experts: 8, num_experts_per_tok: 2,
    })!;
    expect(countParams(mixtral) / 1e9).toBeCloseTo(46.7, 1); // Mixtral-8x7B: 46.7B total
    expect(activeParams(mixtral) / 1e9).toBeCloseTo(12.9, 1); // 12.9B per token
  });

  it("reports the active parameters of an MoE checkpoint and none for a dense one", () => {
    const dir = modelDir("moe", {
      architectures: ["MixtralForCausalLM"], vocab_size: 100, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, num_local_experts: 4, num_experts_per_tok: 2,
    });
    writeSafetensors(path.join(dir, "model.safetensors"), { "model.embed_tokens.weight": { dtype: "F32", shape: [100, 16] } });
    const info = inspectModel(dir);
    expect(info.activeParameterCount).toBe(activeParams(info.shape!));
    expect(info.activeParameterCount!).toBeLessThan(countParams(info.shape!));
  });

  it("refuses a checkpoint without tokenizer files, or whose tokenizer ids pass the vocabulary, in words", () => {
    const cfg = { ...qwenConfig };
    const none = modelDir("no-tokenizer", cfg);
    writeSafetensors(path.join(none, "model.safetensors"), { "model.embed_tokens.weight": { dtype: "F32", shape: [100, 16] } });
    fs.rmSync(path.join(none, "tokenizer.json"));
    expect(() => inspectModel(none)).toThrow(/no tokenizer files in .*tokenizer\.json/);
    const tokenizer = JSON.stringify({ model: { type: "BPE", vocab: { a: 0, b: 1 } }, added_tokens: [{ id: 150, content: "<x>" }] });
    const big = modelDir("big-tokenizer", cfg, { "tokenizer.json": tokenizer });
    writeSafetensors(path.join(big, "model.safetensors"), { "model.embed_tokens.weight": { dtype: "F32", shape: [100, 16] } });
    expect(() => inspectModel(big)).toThrow(/token ids up to 150, but the model's vocabulary .* has 100 entries/);
  });

  it("names an unsupported architecture and lists the supported ones", () => {
    const dir = modelDir("falcon", { ...qwenConfig, architectures: ["FalconForCausalLM"] });
    expect(() => inspectModel(dir)).toThrow(/unsupported architecture FalconForCausalLM \(supported: LlamaForCausalLM, .*Glm4ForCausalLM/);
  });
});
