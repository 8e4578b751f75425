// OpenAI's response shapes for chat completions: the whole object, and the streamed chunks.
export type FinishReason = "stop" | "length";

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export const usageOf = (prompt: number, completion: number): Usage => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
});

export function completionObject(id: string, created: number, model: string, content: string, finish: FinishReason, usage: Usage) {
  return {
    id,
    object: "chat.completion" as const,
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, message: { role: "assistant" as const, content, refusal: null }, logprobs: null, finish_reason: finish }],
    usage,
  };
}

export function chunkObject(
  id: string,
  created: number,
  model: string,
  delta: { role?: "assistant"; content?: string },
  finish: FinishReason | null,
  withUsage: boolean,
) {
  return {
    id,
    object: "chat.completion.chunk" as const,
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(withUsage ? { usage: null } : {}),
  };
}

/** The last chunk when stream_options.include_usage is set: no choices, the usage. */
export function usageChunk(id: string, created: number, model: string, usage: Usage) {
  return { id, object: "chat.completion.chunk" as const, created, model, system_fingerprint: null, choices: [], usage };
}

/** One server-sent event as OpenAI writes it. */
export const sse = (data: unknown) => `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
