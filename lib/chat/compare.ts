// Compare mode asks the same question twice, and the base model often never says it is done:
// LlamaBoard's 1024 new tokens kept it streaming noise for half a minute while Send waited.
// Each side of a comparison stops at COMPARE_MAX_NEW_TOKENS (or the user's lower setting).
import type { GenerationParams } from "@/lib/schemas/socket";

export const COMPARE_MAX_NEW_TOKENS = 256;

export function compareParams(params: GenerationParams): GenerationParams {
  return { ...params, max_new_tokens: Math.min(params.max_new_tokens, COMPARE_MAX_NEW_TOKENS) };
}
