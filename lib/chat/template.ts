// The chat template a chat:load asks for: an adapter is chatted with in the format it was trained
// on (its run's template); a base model alone in the format its tokenizer suggests
// (lib/models.ts: guessTemplate), else its own chat template ("tokenizer").
import type { TEMPLATES } from "@/lib/schemas/run-config";

export type ChatTemplate = (typeof TEMPLATES)[number];

export function chatTemplateFor(
  model: { template?: ChatTemplate | null } | undefined,
  selectedAdapters: { template?: ChatTemplate | null }[],
): ChatTemplate {
  // Adapters on one base model were trained on it, normally with one template; the first decides.
  return selectedAdapters.find((a) => a.template)?.template ?? model?.template ?? "tokenizer";
}
