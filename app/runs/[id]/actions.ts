"use server";
import { redirect } from "next/navigation";
import { z } from "zod";
import { continueRun } from "@/lib/jobs/continued-run";
import { getLocale } from "@/lib/i18n/server";

export interface ContinueFormState {
  epochsError?: string;
  formError?: string;
  epochs?: string;
}

/** Continue training: queue a run that continues run `parentId` for the epochs typed, then show it. */
export async function continueRunAction(parentId: unknown, _prev: ContinueFormState, form: FormData): Promise<ContinueFormState> {
  const id = z.number().int().positive().safeParse(parentId);
  if (!id.success) return { formError: "unknown run" };
  const epochs = String(form.get("num_train_epochs") ?? "");
  const result = await continueRun(id.data, epochs, await getLocale());
  if (!result.ok) return { epochsError: result.epochsError, formError: result.formError, epochs };
  redirect(`/runs/${result.id}`);
}
