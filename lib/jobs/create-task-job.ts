// Shared by create-eval / create-export: zod issues to one message per form field, and the queue insert.
import type { z } from "zod";
import type { Job } from "@/lib/db";
import { enqueueJob } from "@/lib/queue/enqueue";
import type { TaskKind } from "@/lib/queue/types";

export type FieldErrors = Partial<Record<string, string>>;
export type CreateTaskResult = { ok: true; id: number } | { ok: false; fieldErrors: FieldErrors; formError?: string };

export function fieldErrorsOf(error: z.ZodError): FieldErrors {
  const out: FieldErrors = {};
  for (const issue of error.issues) out[String(issue.path[0] ?? "form")] ??= issue.message;
  return out;
}

/** Queue an eval/export job through the queue's validated enqueue (status queued, config as JSON text). */
export async function enqueueTaskJob(input: { kind: TaskKind; name: string; config: unknown; modelPath: string; datasets: string }): Promise<Job> {
  return enqueueJob({ ...input, config: JSON.stringify(input.config) });
}

export function defaultName(prefix: string, what: string): string {
  return `${prefix}-${what}-${new Date().toISOString().slice(0, 16).replace("T", "-")}`.slice(0, 200);
}
