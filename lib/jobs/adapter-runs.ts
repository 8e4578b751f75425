// Finished training runs whose folder holds a LoRA adapter: what Evaluate, Export and the adapter
// download may use. A run's folder must resolve (realpath) inside the runs root.
import fs from "node:fs";
import path from "node:path";
import { db } from "@/lib/db";
import { jobNumber } from "./job-number";

export const ADAPTER_FILES = ["adapter_config.json", "adapter_model.safetensors"] as const;

export interface AdapterRun {
  id: number;
  /** The run's number among runs (lib/jobs/job-number.ts), what forms show. */
  number: number;
  name: string;
  modelPath: string;
  adapterDir: string;
}

export class AdapterRunError extends Error {}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** The run's adapter folder if it is inside the runs root and holds both adapter files, else null. */
export function adapterDirOf(runsDir: string, outputDir: string | null): string | null {
  if (!outputDir) return null;
  try {
    const root = fs.realpathSync(runsDir);
    const dir = fs.realpathSync(outputDir);
    if (!isInside(root, dir) || dir === root) return null;
    // A runtime folder (the runs root is configured): nothing for the bundler to trace.
    for (const f of ADAPTER_FILES) if (!fs.statSync(/*turbopackIgnore: true*/ path.join(/*turbopackIgnore: true*/ dir, f)).isFile()) return null;
    return dir;
  } catch {
    return null;
  }
}

/** Succeeded training runs with an adapter, newest first. */
export async function listAdapterRuns(runsDir: string): Promise<AdapterRun[]> {
  const jobs = await db().job.findMany({
    where: { kind: "train", status: "succeeded" },
    orderBy: { id: "desc" },
    select: { id: true, seq: true, name: true, modelPath: true, outputDir: true },
    take: 200,
  });
  return jobs.flatMap((j) => {
    const adapterDir = adapterDirOf(runsDir, j.outputDir);
    return adapterDir ? [{ id: j.id, number: jobNumber(j), name: j.name, modelPath: j.modelPath, adapterDir }] : [];
  });
}

/** One run's adapter, or an AdapterRunError that says why it cannot be used. */
export async function resolveAdapterRun(runsDir: string, id: number): Promise<AdapterRun> {
  const job = await db().job.findUnique({ where: { id }, select: { id: true, seq: true, name: true, kind: true, status: true, modelPath: true, outputDir: true } });
  if (!job || job.kind !== "train") throw new AdapterRunError(`run ${id} does not exist`);
  if (job.status !== "succeeded") throw new AdapterRunError(`run ${id} has not finished successfully (${job.status})`);
  const adapterDir = adapterDirOf(runsDir, job.outputDir);
  if (!adapterDir) throw new AdapterRunError(`run ${id} has no LoRA adapter (adapter_config.json + adapter_model.safetensors) in the runs folder`);
  return { id: job.id, number: jobNumber(job), name: job.name, modelPath: job.modelPath, adapterDir };
}
