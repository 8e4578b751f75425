"use server";
// The Identity check's result, kept with the run whose adapter answered (the export's model card
// states it, with the system prompt the chat sent).
import { z } from "zod";
import { findRunByAdapterDir, identityCheckRecordSchema, saveIdentityCheck } from "@/lib/data/runs";

const recordInput = z.object({
  adapterPath: z.string().min(1).max(4_096),
  check: identityCheckRecordSchema.omit({ checked_at: true }),
});

/** Stores the check for the adapter's run; false when the adapter is no run's output (nothing stored). */
export async function recordIdentityCheck(input: unknown): Promise<boolean> {
  const parsed = recordInput.parse(input);
  const run = await findRunByAdapterDir(parsed.adapterPath);
  if (!run) return false;
  await saveIdentityCheck(run.id, { ...parsed.check, checked_at: new Date().toISOString() });
  return true;
}
