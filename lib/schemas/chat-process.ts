// The worker <-> chat process protocol: JSON lines on the Python chat server's stdin/stdout
// (worker/trainer/tuneboard_trainer/chat_server.py).
import { z } from "zod";
import { TEMPLATES } from "./run-config";

export const chatProcessEvent = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready") }),
  /** Load progress: phase weights | adapters | warmup, fraction 0..1 or null when unknown. */
  z.object({
    type: z.literal("progress"),
    phase: z.enum(["weights", "adapters", "warmup"]),
    pct: z.number().min(0).max(1).nullable(),
    elapsed_s: z.number().nonnegative(),
  }),
  z.object({
    type: z.literal("loaded"),
    model_path: z.string(),
    adapter_paths: z.array(z.string()).default([]),
    load_s: z.number(),
    device: z.string(),
    mode: z.string().optional(),
  }),
  z.object({ type: z.literal("token"), request_id: z.string(), text: z.string() }),
  z.object({
    type: z.literal("done"),
    request_id: z.string(),
    tokens: z.number().int().nonnegative(),
    tokens_per_sec: z.number().nullable(),
    finish_reason: z.enum(["stop", "length", "aborted"]),
    /** Tokens of the formatted conversation (the API's usage.prompt_tokens). */
    prompt_tokens: z.number().int().nonnegative().optional(),
  }),
  z.object({ type: z.literal("unloaded") }),
  z.object({ type: z.literal("error"), request_id: z.string().nullable().optional(), message: z.string() }),
]);
export type ChatProcessEvent = z.infer<typeof chatProcessEvent>;

const chatMessage = z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() });

export const chatProcessCommand = z.discriminatedUnion("type", [
  // template: how prompts are formatted: the run's template for its adapters, else the model's.
  z.object({ type: z.literal("load"), model_path: z.string().min(1), adapter_paths: z.array(z.string().min(1)), template: z.enum(TEMPLATES) }),
  z.object({
    type: z.literal("generate"),
    request_id: z.string().min(1),
    messages: z.array(chatMessage).min(1),
    max_new_tokens: z.number().int().min(1),
    temperature: z.number().min(0),
    top_p: z.number().gt(0).max(1),
    top_k: z.number().int().min(0),
    repetition_penalty: z.number().gt(0),
    seed: z.number().int().min(0).nullable(),
    use_adapters: z.boolean(),
    /** The loaded adapters this request uses (API requests); absent: all of them (when use_adapters). */
    adapter_paths: z.array(z.string().min(1)).optional(),
    /** The template for this request (API requests: the run's); absent: the one given at load. */
    template: z.enum(TEMPLATES).optional(),
  }),
  z.object({ type: z.literal("stop"), request_id: z.string().min(1) }),
  z.object({ type: z.literal("unload") }),
  z.object({ type: z.literal("shutdown") }),
]);
export type ChatProcessCommand = z.infer<typeof chatProcessCommand>;
