// The body of POST /v1/chat/completions: OpenAI's fields that Tuneboard serves, validated with zod.
// Unknown fields are ignored (clients send provider-specific extras); a field we cannot honour
// (n > 1, tools) is rejected by name rather than silently dropped.
import { z } from "zod";
import { generationParams } from "@/lib/schemas/socket";

const textPart = z.object({ type: z.literal("text"), text: z.string() });
const content = z.union([z.string(), z.array(textPart).min(1)], {
  error: "content must be a string or a list of text parts ({type: 'text', text})",
});

const message = z.object({
  role: z.enum(["system", "developer", "user", "assistant"], { error: "role must be one of system, developer, user, assistant" }),
  content,
});

const limits = generationParams.shape;

export const chatCompletionRequest = z.object({
  model: z.string({ error: "model is required (GET /v1/models lists them)" }).min(1, "model is required (GET /v1/models lists them)"),
  messages: z.array(message, { error: "messages must be a list of {role, content}" }).min(1, "messages must not be empty").max(200),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  max_tokens: z.number().int("max_tokens must be a whole number").min(1).max(8192).nullish(),
  max_completion_tokens: z.number().int("max_completion_tokens must be a whole number").min(1).max(8192).nullish(),
  // OpenAI's ranges (temperature 0..2; 0 = greedy) and defaults (1, 1).
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  stop: z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]).nullish(),
  seed: limits.seed.unwrap().unwrap().nullish(),
  n: z.literal(1, { error: "n: only one choice per request is supported" }).nullish(),
  tools: z.undefined({ error: "tools are not supported by this server" }).optional(),
  user: z.string().nullish(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;

/** Answers without max_tokens stop at this many tokens (or at the end of the model's context). */
export const DEFAULT_MAX_TOKENS = 1024;

/** A zod path as OpenAI names params: messages[0].content. */
export function paramName(pathParts: PropertyKey[]): string {
  return pathParts.reduce<string>((acc, p) => (typeof p === "number" ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), "");
}

export function messagesForChat(req: ChatCompletionRequest) {
  return req.messages.map((m) => ({
    role: m.role === "developer" ? ("system" as const) : m.role,
    content: typeof m.content === "string" ? m.content : m.content.map((p) => p.text).join(""),
  }));
}

export function generationFor(req: ChatCompletionRequest) {
  return generationParams.parse({
    max_new_tokens: req.max_completion_tokens ?? req.max_tokens ?? DEFAULT_MAX_TOKENS,
    temperature: req.temperature ?? 1,
    top_p: req.top_p ?? 1,
    top_k: 0,
    repetition_penalty: 1,
    seed: req.seed ?? null,
  });
}

export function stopStrings(req: ChatCompletionRequest): string[] {
  return req.stop == null ? [] : typeof req.stop === "string" ? [req.stop] : req.stop;
}
