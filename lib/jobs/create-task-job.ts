// Shared by create-eval / create-export: zod issues to one message per form field, and the queue insert.
import type { z } from "zod";
import { fieldErrorsFromZod, type FieldErrors } from "@/lib/forms/field-errors";
import type { Job } from "@/lib/db";
import { enqueueJob } from "@/lib/queue/enqueue";
import type { TaskKind } from "@/lib/queue/types";

export type { FieldErrors } from "@/lib/forms/field-errors";
export type CreateTaskResult = { ok: true; id: number } | { ok: false; fieldErrors: FieldErrors; formError?: string };

export const fieldErrorsOf = (error: z.ZodError): FieldErrors => fieldErrorsFromZod(error);

/** Queue an eval/export job through the queue's validated enqueue (status queued, config as JSON text). */
export async function enqueueTaskJob(input: { kind: TaskKind; name: string; config: unknown; modelPath: string; datasets: string }): Promise<Job> {
  return enqueueJob({ ...input, config: JSON.stringify(input.config) });
}

export function defaultName(prefix: string, what: string): string {
  return `${prefix}-${what}-${new Date().toISOString().slice(0, 16).replace("T", "-")}`.slice(0, 200);
}
