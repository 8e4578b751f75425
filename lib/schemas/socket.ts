// Typed socket.io contract. Browsers use the default namespace; workers use "/worker" with a token.
// Every payload that crosses the socket is parsed with these schemas on arrival.
import { z } from "zod";
import { jobStatusSchema } from "@/lib/queue/types";
import { TEMPLATES } from "./run-config";
import { stageMetricsSchema } from "./trainer-events";

export const jobId = z.number().int().positive();

export const metricPoint = z.object({
  step: z.number().int().positive(),
  epoch: z.number(),
  loss: z.number().nullable(),
  lr: z.number(),
  gradNorm: z.number().nullable(),
  tokens: z.number().nullable(),
  tokensPerSec: z.number().nullable(),
  elapsedS: z.number().nullable(),
  gpuMemGib: z.number().nullable().optional(),
  // Preference / reward stages only: TRL's metrics of the step (STAGE_METRICS).
  stageMetrics: stageMetricsSchema.nullable().optional(),
});
export type MetricPoint = z.infer<typeof metricPoint>;

export const evalPoint = z.object({ step: z.number().int().nonnegative(), epoch: z.number(), evalLoss: z.number() });
export type EvalPoint = z.infer<typeof evalPoint>;

// One definition of the job states: the queue's.
export { jobStatusSchema as jobStatus, type JobStatus } from "@/lib/queue/types";

export const jobStatusUpdate = z.object({
  jobId,
  status: jobStatusSchema,
  step: z.number().int().nonnegative(),
  totalSteps: z.number().int().nonnegative().nullable(),
  error: z.string().nullable().optional(),
  finalLoss: z.number().nullable().optional(),
  finalEvalLoss: z.number().nullable().optional(),
  startedAt: z.string().nullable().optional(),
  finishedAt: z.string().nullable().optional(),
  cancelRequested: z.boolean().optional(),
});
export type JobStatusUpdate = z.infer<typeof jobStatusUpdate>;

export const jobMetricMsg = z.object({ jobId, point: metricPoint });
export const jobEvalMsg = z.object({ jobId, point: evalPoint });
export const jobLogMsg = z.object({ jobId, text: z.string().max(100_000) });

export const jobSnapshot = z.object({
  job: jobStatusUpdate,
  points: z.array(metricPoint),
  evalPoints: z.array(evalPoint),
  logTail: z.string(),
});
export type JobSnapshot = z.infer<typeof jobSnapshot>;

export const chatMessage = z.object({
  role: z.enum(["system", "user", "assistant"]),
  content: z.string().max(100_000),
});
export type ChatMessage = z.infer<typeof chatMessage>;

// LlamaBoard's defaults: max new tokens 1024, top-p 0.7, temperature 0.95; top-k and the repetition
// penalty are off by default (0 and 1.0). The chat process validates the same ranges again.
export const generationParams = z.object({
  max_new_tokens: z.number().int("max new tokens must be a whole number").min(1).max(8192).default(1024),
  temperature: z.number().min(0).max(5).default(0.95),
  top_p: z.number().gt(0).max(1).default(0.7),
  top_k: z.number().int("top-k must be a whole number").min(0).max(1000).default(0),
  repetition_penalty: z.number().min(1).max(2).default(1),
  seed: z.number().int("seed must be a whole number").min(0).max(Number.MAX_SAFE_INTEGER).nullable().default(null),
});
export type GenerationParams = z.infer<typeof generationParams>;

export const chatLoadReq = z.object({
  modelPath: z.string().min(1),
  adapterPaths: z.array(z.string().min(1)).max(8).default([]),
  /**
   * How the chat process formats prompts: the run's template for its adapters, else the model's
   * (lib/chat/template.ts). Absent: the model's own chat template from its tokenizer.
   */
  template: z.enum(TEMPLATES, { error: "unknown template" }).default("tokenizer"),
});
export const chatSendReq = z.object({
  requestId: z.string().min(1).max(64),
  messages: z.array(chatMessage).min(1).max(200),
  params: generationParams,
  /** false: answer with the base model alone (compare mode); the adapters stay loaded. */
  useAdapters: z.boolean().default(true),
});
export const chatStopReq = z.object({ requestId: z.string().min(1).max(64) });

/** An OpenAI-compatible API request (lib/api) for a worker: the base model and the adapters it needs are
 * loaded on demand and kept; only `adapterPaths` are active for this request. */
export const apiChatReq = z.object({
  requestId: z.string().min(1).max(64),
  modelPath: z.string().min(1),
  adapterPaths: z.array(z.string().min(1)).max(8),
  template: z.enum(TEMPLATES),
  messages: z.array(chatMessage).min(1).max(200),
  params: generationParams,
});
export type ApiChatReq = z.infer<typeof apiChatReq>;

export const chatLoadPhase = z.enum(["weights", "adapters", "warmup"]);
export const chatState = z.object({
  workerId: z.string().nullable(),
  state: z.enum(["idle", "loading", "ready", "error"]),
  modelPath: z.string().nullable(),
  adapterPath: z.string().nullable(),
  adapterPaths: z.array(z.string()).optional(),
  message: z.string().nullable(),
  loadS: z.number().nullable(),
  /** While loading: the current phase and its fraction done (null when unknown). */
  phase: chatLoadPhase.nullable().optional(),
  progress: z.number().min(0).max(1).nullable().optional(),
  /** Phases finished so far, with their seconds, so a fast load still shows what happened. */
  phases: z.array(z.object({ phase: chatLoadPhase, s: z.number() })).optional(),
  device: z.string().nullable().optional(),
});
export type ChatState = z.infer<typeof chatState>;

export const chatToken = z.object({ requestId: z.string(), text: z.string() });
export const chatDone = z.object({
  requestId: z.string(),
  tokens: z.number().int().nonnegative(),
  tokensPerSec: z.number().nullable(),
  finishReason: z.enum(["stop", "length", "aborted", "error"]),
  error: z.string().nullable().optional(),
  promptTokens: z.number().int().nonnegative().optional(),
});
export type ChatDone = z.infer<typeof chatDone>;

type Ack<T> = (res: { ok: true; data: T } | { ok: false; error: string }) => void;

export interface ServerToClientEvents {
  "job:metric": (msg: z.infer<typeof jobMetricMsg>) => void;
  "job:eval": (msg: z.infer<typeof jobEvalMsg>) => void;
  "job:status": (msg: JobStatusUpdate) => void;
  "job:log": (msg: z.infer<typeof jobLogMsg>) => void;
  "chat:state": (msg: ChatState) => void;
  "chat:token": (msg: z.infer<typeof chatToken>) => void;
  "chat:done": (msg: z.infer<typeof chatDone>) => void;
}

export interface ClientToServerEvents {
  "job:subscribe": (msg: unknown, ack: Ack<JobSnapshot>) => void;
  "job:unsubscribe": (msg: unknown) => void;
  "chat:subscribe": (msg: unknown, ack: Ack<ChatState>) => void;
  "chat:load": (msg: unknown, ack: Ack<ChatState>) => void;
  "chat:send": (msg: unknown, ack: Ack<null>) => void;
  "chat:stop": (msg: unknown) => void;
  "chat:unload": (msg: unknown, ack: Ack<ChatState>) => void;
}

/** Events a worker sends up to the server (validated there). */
export interface WorkerToServerEvents {
  "job:metric": (msg: unknown) => void;
  "job:eval": (msg: unknown) => void;
  "job:status": (msg: unknown) => void;
  "job:log": (msg: unknown) => void;
  "chat:state": (msg: unknown) => void;
  "chat:token": (msg: unknown) => void;
  "chat:done": (msg: unknown) => void;
  "api:token": (msg: unknown) => void;
  "api:done": (msg: unknown) => void;
}

/** Commands the server sends down to a worker (validated there). */
export interface ServerToWorkerEvents {
  "job:cancel": (msg: { jobId: number }) => void;
  "chat:load": (msg: z.infer<typeof chatLoadReq>) => void;
  "chat:send": (msg: z.infer<typeof chatSendReq>) => void;
  "chat:stop": (msg: z.infer<typeof chatStopReq>) => void;
  "chat:unload": (msg: Record<string, never>) => void;
  "api:chat": (msg: ApiChatReq) => void;
}

export type AckResult<T> = Parameters<Ack<T>>[0];
