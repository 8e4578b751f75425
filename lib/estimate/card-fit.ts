// Whether a run's GPU memory estimate fits any online worker's card, checked at Start so that a run
// that cannot fit is refused in words instead of dying out of memory in the queue. Pure.
import { estimateMemory, formatGiB, type LoraTargetName, type MemoryInput } from "./memory";
import type { ModelShape } from "./shape";
import type { RunConfig } from "@/lib/schemas/run-config";

/** The estimate's input from a validated run config (the Train form's MemoryEstimate reads the same fields). */
export function memoryInputFromConfig(shape: ModelShape, c: RunConfig): MemoryInput {
  return {
    shape,
    method: c.finetuning_type,
    computeType: c.compute_type,
    loraRank: c.lora_rank,
    loraTarget: c.lora_target === "all" ? "all" : (c.lora_target as LoraTargetName[]),
    useDora: c.use_dora,
    freezeLayers: Math.abs(c.freeze_trainable_layers),
    freezeModules: c.freeze_trainable_modules,
    batchSize: c.per_device_train_batch_size,
    cutoffLen: c.cutoff_len,
    gradientCheckpointing: c.gradient_checkpointing,
    quantizationBit: c.quantization_bit,
  };
}

export interface WorkerCards {
  /** Memory of each GPU the worker advertises, in MiB (nvidia-smi's memory.total). */
  gpuMiB: number[];
}

/**
 * The card sizes (MiB) when no online worker that could take the run has a GPU the estimate fits;
 * null when one fits, or when the check does not apply: no worker online (the run waits), the run
 * asks for the CPU, or it may go to a worker without GPUs (it trains on the CPU there).
 */
export function cardsTooSmall(estimateBytes: number, workers: WorkerCards[], numGpus: number, device: string): number[] | null {
  if (device === "cpu") return null;
  const takers = workers.filter((w) => w.gpuMiB.length >= numGpus);
  if (takers.length === 0) return null;
  if (numGpus === 0 && takers.some((w) => w.gpuMiB.length === 0)) return null;
  const cards = takers.flatMap((w) => w.gpuMiB);
  return cards.some((mib) => mib * 2 ** 20 >= estimateBytes) ? null : [...new Set(cards)].sort((a, b) => a - b);
}

/** The refusal, in the words the validation dictionary translates. */
export function noCardMessage(estimateBytes: number, cardsMiB: number[]): string {
  return `the estimated ${formatGiB(estimateBytes)} of GPU memory exceeds every online worker's GPU (${cardsMiB.map((m) => formatGiB(m * 2 ** 20)).join(", ")}): choose quantization bit 4 or 8, a smaller batch size or a shorter cutoff length`;
}

/** The estimate of a run on a model, for the check above. */
export function runEstimateBytes(shape: ModelShape, parameterCount: number, c: RunConfig): number {
  return estimateMemory(memoryInputFromConfig(shape, c), parameterCount).totalBytes;
}
