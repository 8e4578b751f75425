// "Show command": the trainer call the worker makes for a run, written out for a terminal (the
// config file it reads is lib/trainer/config-file.ts's). Pure: the page computes the paths on the
// server, the form fills in the config as it changes.
import { gpuEnv, trainerArgs } from "@/lib/trainer/argv";

export interface CommandPaths {
  /** Repository root: the command runs from there. */
  root: string;
  /** The Python interpreter the worker runs. */
  python: string;
  /** The trainer's own arguments (`train --config …`); the launcher is added per GPU count. */
  args: string[];
  /** PYTHONPATH the worker sets. */
  pythonPath: string;
  configPath: string;
  outputDir: string;
  dataDir: string;
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

/**
 * The terminal lines: make the output folder, then run the trainer as the worker would for a job
 * asking for `numGpus` GPUs (lib/trainer/argv.ts): with 2 or more, under torchrun. A worker
 * gives the job the first N GPUs it advertises; on a machine's own GPUs those are 0..N-1.
 */
export function commandText(paths: CommandPaths, numGpus = 0): string {
  const rel = (p: string) => shellQuote(displayPath(paths.root, p));
  const args = trainerArgs(paths.args, numGpus);
  const argv = [rel(paths.python), ...args.map((a) => (a === paths.configPath ? rel(a) : shellQuote(a)))];
  const env = Object.entries({ ...gpuEnv(Array.from({ length: numGpus }, (_, i) => i)), PYTHONPATH: rel(paths.pythonPath) });
  return [`mkdir -p ${rel(paths.outputDir)}`, `${env.map(([k, v]) => `${k}=${v}`).join(" ")} ${argv.join(" ")}`].join("\n");
}
