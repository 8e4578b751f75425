// The models the API serves: every base model under the model roots (id = its folder name) and
// every finished training run's LoRA adapter (id = "<base folder>:<run name>"; when several runs
// share a name, the newest keeps it and older ones get "#<run id>" appended, so ids stay unique).
import fs from "node:fs";
import path from "node:path";
import { db as defaultDb, type Db } from "@/lib/db";
import { listModels } from "@/lib/models";
import { adapterDirOf } from "@/lib/jobs/adapter-runs";
import { TEMPLATES } from "@/lib/schemas/run-config";

type Template = (typeof TEMPLATES)[number];

export interface ApiModel {
  id: string;
  /** Unix seconds (OpenAI's `created`). */
  created: number;
  modelPath: string;
  adapterPath: string | null;
  template: Template;
  runId: number | null;
}

export function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

function runTemplate(config: string, fallback: Template): Template {
  try {
    const t = (JSON.parse(config) as { template?: unknown }).template;
    return (TEMPLATES as readonly unknown[]).includes(t) ? (t as Template) : fallback;
  } catch {
    return fallback;
  }
}

export async function listApiModels(opts: { modelRoots: string[]; runsDir: string }, db: Db = defaultDb()): Promise<ApiModel[]> {
  const bases = listModels(opts.modelRoots);
  const byPath = new Map(bases.map((m) => [realOrSelf(m.path), m]));
  const models: ApiModel[] = bases.map((m) => ({
    id: m.name,
    created: Math.floor(fs.statSync(m.path).mtimeMs / 1000),
    modelPath: m.path,
    adapterPath: null,
    template: m.templateGuess,
    runId: null,
  }));
  const runs = await db.job.findMany({
    where: { kind: "train", status: "succeeded" },
    orderBy: { id: "desc" },
    select: { id: true, name: true, modelPath: true, outputDir: true, config: true, finishedAt: true, createdAt: true },
    take: 500,
  });
  const taken = new Set(models.map((m) => m.id));
  for (const run of runs) {
    const base = byPath.get(realOrSelf(run.modelPath));
    // The folder as the run recorded it (the worker resolves it inside its runs root again).
    const adapterPath = adapterDirOf(opts.runsDir, run.outputDir) ? run.outputDir : null;
    if (!adapterPath || !base) continue; // no adapter, or its base model is no longer under the model roots
    let id = `${base.name}:${run.name}`;
    if (taken.has(id)) id = `${id}#${run.id}`;
    taken.add(id);
    models.push({
      id,
      created: Math.floor((run.finishedAt ?? run.createdAt).getTime() / 1000),
      modelPath: base.path,
      adapterPath,
      template: runTemplate(run.config, base.templateGuess),
      runId: run.id,
    });
  }
  return models;
}

/** OpenAI's model object. */
export function modelObject(m: ApiModel) {
  return { id: m.id, object: "model" as const, created: m.created, owned_by: "tuneboard" };
}
