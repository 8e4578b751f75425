// The worker <-> chat process protocol: JSON lines on the Python chat server's stdin/stdout
// (worker/trainer/tuneboard_trainer/chat_server.py).
import { z } from "zod";

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

export type ChatProcessCommand =
  | { type: "load"; model_path: string; adapter_paths: string[]; template: string }
  | {
      type: "generate";
      request_id: string;
      messages: { role: string; content: string }[];
      max_new_tokens: number;
      temperature: number;
      top_p: number;
      top_k: number;
      repetition_penalty: number;
      seed: number | null;
      use_adapters: boolean;
      /** The loaded adapters this request uses (API requests); absent: all of them (when use_adapters). */
      adapter_paths?: string[];
      /** The template for this request (API requests: the run's); absent: the one given at load. */
      template?: string;
    }
  | { type: "stop"; request_id: string }
  | { type: "unload" }
  | { type: "shutdown" };
