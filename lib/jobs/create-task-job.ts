// Shared by create-eval / create-export: zod issues to one message per form field, and the queue insert.
import type { z } from "zod";
import { db, type Job } from "@/lib/db";

export type FieldErrors = Partial<Record<string, string>>;
export type CreateTaskResult = { ok: true; id: number } | { ok: false; fieldErrors: FieldErrors; formError?: string };

export function fieldErrorsOf(error: z.ZodError): FieldErrors {
  const out: FieldErrors = {};
  for (const issue of error.issues) out[String(issue.path[0] ?? "form")] ??= issue.message;
  return out;
}

/**
 * Queue an eval/export job. `enqueueJob` (lib/queue/enqueue.ts) only accepts kind "train" for now,
 * so this inserts the same row itself: status queued, the validated config as JSON text.
 * TODO(coordinator): once jobKindSchema lists "eval" and "export", call enqueueJob instead.
 */
export async function enqueueTaskJob(input: { kind: "eval" | "export"; name: string; config: unknown; modelPath: string; datasets: string }): Promise<Job> {
  return db().job.create({
    data: {
      kind: input.kind,
      name: input.name,
      config: JSON.stringify(input.config),
      modelPath: input.modelPath,
      datasets: input.datasets,
      status: "queued",
    },
  });
}

export function defaultName(prefix: string, what: string): string {
  return `${prefix}-${what}-${new Date().toISOString().slice(0, 16).replace("T", "-")}`.slice(0, 200);
}
