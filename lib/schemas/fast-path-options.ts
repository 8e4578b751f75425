// The trainer's fast-path options as a run resolved them: reported in its `started` event
// (tuneboard_trainer/fast/options.py, resolved_options) and stored with the run (Job.result of a
// train job). A flat object of scalars; the Run page shows the fields it knows and any others as they are.
import { z } from "zod";
import { stoppedEarlySchema } from "./stopped-early";

export const fastPathOptionsSchema = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]));
export type FastPathOptions = z.infer<typeof fastPathOptionsSchema>;

/** Job.result of a train job: the fast-path options it resolved, and why it stopped early (if it did). */
export const trainRunDetailsSchema = z.object({ fastPathOptions: fastPathOptionsSchema.optional(), stoppedEarly: stoppedEarlySchema.optional() });
export type TrainRunDetails = z.infer<typeof trainRunDetailsSchema>;

/** The fields the Run page labels, in display order (the trainer's names). */
export const FAST_PATH_OPTION_FIELDS = [
  "active",
  "mode",
  "gradient_checkpointing",
  "compile",
  "compile_functions",
  "cuda_graphs",
  "augmented_weights",
  "keep_swiglu",
  "dense_attention",
  "host_embedding",
  "weight_reader",
  "shared_prompt",
  "max_tokens",
  "recomputed_blocks",
  "gate_up_recomputed_blocks",
] as const;

/** Job.result of a train job: what the run resolved at start; null before it started or when unreadable. */
export function parseTrainRunDetails(result: string | null): TrainRunDetails | null {
  if (!result) return null;
  try {
    const parsed = trainRunDetailsSchema.safeParse(JSON.parse(result));
    // A result with neither field is some other job's (an eval's metrics), not a train job's.
    return parsed.success && (parsed.data.fastPathOptions || parsed.data.stoppedEarly) ? parsed.data : null;
  } catch {
    return null;
  }
}
