// Why early stopping ended a run: the trainer's `done` event carries it (stopped_early) and the
// worker stores it with the run (Job.result of a train job, stoppedEarly); the Run page says it in words.
import { z } from "zod";

export const stoppedEarlySchema = z.object({
  /** Evaluations in a row without improvement that ended the run. */
  patience: z.number().int().positive(),
  /** How much an eval loss had to drop to count as an improvement. */
  min_delta: z.number().nonnegative(),
  best_eval_loss: z.number(),
  best_step: z.number().int().nonnegative(),
  /** The step whose weights the run saved: best_step for LoRA (the best evaluation's adapter), else the last step. */
  saved_step: z.number().int().nonnegative().optional(),
});
export type StoppedEarly = z.infer<typeof stoppedEarlySchema>;
