// Model shapes the estimate tests share, from the published config.json files.
import { shapeFromConfig } from "./shape";

/** Meta-Llama-3.1-8B's config.json sizes. */
export const LLAMA31_8B = shapeFromConfig("LlamaForCausalLM", {
  vocab_size: 128256,
  hidden_size: 4096,
  intermediate_size: 14336,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  tie_word_embeddings: false,
})!;
