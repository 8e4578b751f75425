// "Continue with preference training" on a finished SFT LoRA run: the Train form prefilled for a
// DPO run that starts from that run (continue_from_run). The trainer then starts the policy from the
// SFT adapter and uses the SFT model, frozen, as the reference (tuneboard_trainer/run_state.py
// is_stage_chain); the rest of the run is its own (steps, optimizer, data).
import { readStoredConfig } from "@/lib/configs/form";
import type { RunConfig } from "@/lib/schemas/run-config";

export interface PreferenceSource {
  id: number;
  name: string;
  status: string;
  kind: string;
  config: string;
}

/** Whether a run offers "Continue with preference training": a succeeded SFT LoRA training run. */
export function offersPreferenceTraining(job: PreferenceSource, trainKind: string): boolean {
  if (job.kind !== trainKind || job.status !== "succeeded") return false;
  const { config } = readStoredConfig(job.config);
  return (config.stage ?? "sft") === "sft" && config.finetuning_type === "lora";
}

/**
 * The form's prefill: the SFT run's model, template and adapter shape (which the trainer requires
 * to match), stage dpo with LLaMA-Factory's defaults, a fresh length (the SFT run's epochs) and no
 * datasets (the form picks the preference data that fits).
 */
export function preferenceStartConfig(job: PreferenceSource): Partial<RunConfig> {
  const { config } = readStoredConfig(job.config);
  const out: Partial<RunConfig> = { ...config };
  delete out.resume_from_checkpoint;
  delete out.max_steps;
  delete out.dataset;
  delete out.early_stopping_patience;
  delete out.val_size;
  return {
    ...out,
    stage: "dpo",
    pref_loss: "sigmoid",
    packing: false,
    name: `${job.name} (DPO)`.slice(0, 80),
    continue_from_run: job.id,
  };
}
