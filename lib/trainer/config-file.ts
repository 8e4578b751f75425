// The trainer's config file for a run: what the worker writes into the run's folder and what the
// Train page's "Show command" displays. Built here only, so what is shown is what runs; the trainer
// validates it against the schema generated from trainerConfigFileSchema (lib/schemas/run-config.ts).
import type { RunConfig, TrainerConfigFile } from "@/lib/schemas/run-config";

export interface TrainerPaths {
  /** The model folder, resolved inside the model roots (default: the config's own, already resolved). */
  modelPath?: string;
  dataDir: string;
  outputDir: string;
  /** A checkpoint the run continues from (a retried run's latest). */
  resumeFrom?: string | null;
  /** The folder of the run this one continues (continue_from_run's run-N). */
  continueFrom?: string | null;
}

/** The trainer's config file for a validated run config: the queue's and the UI's fields left out. */
export function trainerConfigFile(config: RunConfig, paths: TrainerPaths): TrainerConfigFile {
  // name is the UI's, num_gpus the queue's (it picks the worker and the launcher), continue_from_run
  // becomes the run's folder (continue_from); the trainer refuses unknown fields.
  const { name: _name, num_gpus: _numGpus, continue_from_run: _parentRun, ...rest } = config;
  const file: TrainerConfigFile = {
    ...rest,
    model_name_or_path: paths.modelPath ?? config.model_name_or_path,
    dataset_dir: paths.dataDir,
    output_dir: paths.outputDir,
  };
  if (paths.resumeFrom) file.resume_from_checkpoint = paths.resumeFrom;
  if (paths.continueFrom) file.continue_from = paths.continueFrom;
  return file;
}

/** JSON text as the worker writes it; undefined optional fields are left out (the trainer's default). */
export function configFileText(file: TrainerConfigFile): string {
  return JSON.stringify(file, null, 2) + "\n";
}
