// "Is this dataset big enough for the epochs you chose?" The rule, also shown as help text:
//   optimizer steps = ceil(ceil(records / batch size) / gradient accumulation) × epochs
// exactly as the trainer counts them (train.py: micro-batches per epoch, then accumulation
// windows; a partial last batch and a partial last window each still make a step).
// - fewer than MIN_STEPS optimizer steps: the loss curve has too few points to read, and the
//   warm-up and learning-rate schedule are over before they matter;
// - records fewer than one effective batch: every epoch is a single, partial step;
// - many epochs (> MAX_EPOCHS_SMALL) over a small dataset (< SMALL_DATASET records): the model
//   sees each record so often that it memorises it word for word (LLaMA-Factory's identity
//   example trains ~90 records for 3 epochs).
export const MIN_STEPS = 20;
export const SMALL_DATASET = 200;
export const MAX_EPOCHS_SMALL = 10;

export interface EpochPlan {
  records: number;
  epochs: number;
  batchSize: number;
  gradAccum: number;
}

export type EpochWarning = "few_steps" | "below_batch" | "memorise";

export interface EpochAdvice {
  stepsPerEpoch: number;
  totalSteps: number;
  effectiveBatch: number;
  warnings: EpochWarning[];
}

export function adviseEpochs(p: EpochPlan): EpochAdvice | null {
  const ok = (n: number) => Number.isFinite(n) && n > 0;
  if (!ok(p.records) || !ok(p.epochs) || !ok(p.batchSize) || !ok(p.gradAccum)) return null;
  const effectiveBatch = Math.floor(p.batchSize) * Math.floor(p.gradAccum);
  const stepsPerEpoch = Math.ceil(Math.ceil(p.records / Math.floor(p.batchSize)) / Math.floor(p.gradAccum));
  const totalSteps = Math.ceil(stepsPerEpoch * p.epochs);
  const warnings: EpochWarning[] = [];
  if (totalSteps < MIN_STEPS) warnings.push("few_steps");
  if (p.records < effectiveBatch) warnings.push("below_batch");
  if (p.records < SMALL_DATASET && p.epochs > MAX_EPOCHS_SMALL) warnings.push("memorise");
  return { stepsPerEpoch, totalSteps, effectiveBatch, warnings };
}
