// "Show command": the trainer call the worker makes for a run, written out for a terminal, and
// the JSON config file the trainer reads (tuneboard_trainer/config.py: TrainConfig.from_file).
// Pure: the page computes the paths on the server, the form fills in the config as it changes.
import type { RunConfig, TrainerConfigFile } from "@/lib/schemas/run-config";

export interface CommandPaths {
  /** Repository root: the command runs from there. */
  root: string;
  /** argv as worker/trainer-process.ts builds it (python first). */
  argv: string[];
  /** PYTHONPATH the worker sets. */
  pythonPath: string;
  configPath: string;
  outputDir: string;
  dataDir: string;
}

/** The trainer's config file for a validated run config (the worker writes the same fields). */
export function trainerConfigFile(config: RunConfig, paths: { modelPath: string; dataDir: string; outputDir: string }): TrainerConfigFile {
  const { name: _name, ...rest } = config;
  return { ...rest, model_name_or_path: paths.modelPath, dataset_dir: paths.dataDir, output_dir: paths.outputDir };
}

/** JSON text as the worker writes it; undefined optional fields are left out (the trainer's default). */
export function configFileText(file: TrainerConfigFile): string {
  return JSON.stringify(file, null, 2) + "\n";
}

/** POSIX shell quoting for display: bare when safe, single-quoted otherwise. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A path shown relative to the repository root when it lies inside it. */
export function displayPath(root: string, p: string): string {
  const prefix = root.endsWith("/") ? root : `${root}/`;
  return p.startsWith(prefix) ? p.slice(prefix.length) : p;
}

/** The terminal lines: make the output folder, then run the trainer with the worker's arguments. */
export function commandText(paths: CommandPaths): string {
  const rel = (p: string) => shellQuote(displayPath(paths.root, p));
  const [python, ...args] = paths.argv;
  const argv = [rel(python), ...args.map((a) => (a === paths.configPath ? rel(a) : shellQuote(a)))];
  return [
    `mkdir -p ${rel(paths.outputDir)}`,
    `PYTHONPATH=${rel(paths.pythonPath)} ${argv.join(" ")}`,
  ].join("\n");
}
