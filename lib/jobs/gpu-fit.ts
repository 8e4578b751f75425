// At Start: refuse a run whose GPU memory estimate exceeds every online worker's card, in words
// with the card sizes (lib/estimate/card-fit.ts holds the rule).
import { inspectModel } from "@/lib/models";
import { listWorkersForPanel } from "@/lib/queue/workers";
import { cardsTooSmall, noCardMessage, runEstimateBytes } from "@/lib/estimate/card-fit";
import type { RunConfig } from "@/lib/schemas/run-config";
import type { Db } from "@/lib/db";

/** The refusal message (English), or null when the run fits a card or the check does not apply. */
export async function gpuFitError(modelPath: string, config: RunConfig, client?: Db): Promise<string | null> {
  let info;
  try {
    info = inspectModel(modelPath);
  } catch {
    return null; // checkModel already accepted the folder; an unreadable size means no estimate, not a refusal
  }
  if (!info.shape || info.parameterCount === null) return null;
  const workers = (await listWorkersForPanel({}, client)).filter((w) => w.online);
  const estimate = runEstimateBytes(info.shape, info.parameterCount, config);
  const cards = cardsTooSmall(estimate, workers.map((w) => ({ gpuMiB: w.gpus.map((g) => g.memoryTotalMiB) })), config.num_gpus, config.device);
  return cards ? noCardMessage(estimate, cards) : null;
}
