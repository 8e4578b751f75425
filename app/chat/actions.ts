"use server";
// The Identity check's result, kept with the run whose adapter answered (the export's model card
// states it, with the system prompt the chat sent).
import { recordIdentityCheckForAdapter } from "@/lib/data/runs";

/** Stores the check for the adapter's run; false when the adapter is no run's output (nothing stored). */
export async function recordIdentityCheck(input: unknown): Promise<boolean> {
  return recordIdentityCheckForAdapter(input);
}
