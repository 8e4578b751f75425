// Continue training: a new run that starts from a succeeded run's final state (its folder's
// trainer_state.pt) and trains N more epochs. The link is the child's config field
// continue_from_run; the trainer checks that the state matches (model, method, adapter shape).
import fs from "node:fs";
import path from "node:path";
import { db } from "@/lib/db";
import { env } from "@/lib/env";
import type { Locale } from "@/lib/i18n/locales";
import { translateMessage } from "@/lib/i18n/validation";
import { readStoredConfig } from "@/lib/configs/form";
import { TRAIN_KIND } from "@/lib/jobs/list";
import { jobNumber } from "@/lib/jobs/job-number";
import type { RunConfig } from "@/lib/schemas/run-config";
import { joinCurves, type Curve } from "@/lib/metrics/join-curves";
import type { FieldErrors } from "./create-task-job";
import { loadEvalPoints, loadJobPoints } from "./snapshot";
import { createRun } from "./create-run";

type Checked<T> = { ok: true; value: T } | { ok: false; fieldErrors: FieldErrors };

const refuse = (message: string): { ok: false; fieldErrors: FieldErrors } => ({ ok: false, fieldErrors: { continue_from_run: message } });

/** The folder whose final state a continuation of run `id` starts from (the worker's run-N). */
export function runFolder(runsDir: string, id: number): string {
  return path.join(runsDir, `run-${id}`);
}

/** Run `id` can be continued: a succeeded training run whose folder holds its final trainer state. */
export async function checkContinuedRun(runsDir: string, id: number): Promise<Checked<{ id: number; name: string; config: string }>> {
  const job = await db().job.findUnique({ where: { id }, select: { id: true, name: true, kind: true, status: true, config: true } });
  if (!job || job.kind !== TRAIN_KIND) return refuse(`run ${id} is not a training run`);
  if (job.status !== "succeeded") return refuse(`run ${id} has not succeeded (${job.status}): only a finished run can be continued`);
  // A runtime folder (the runs root is configured): nothing for the bundler to trace.
  if (!fs.existsSync(/*turbopackIgnore: true*/ path.join(/*turbopackIgnore: true*/ runFolder(runsDir, id), "trainer_state.pt"))) {
    return refuse(`run ${id} has no saved final state (trainer_state.pt in run-${id}): it cannot be continued`);
  }
  return { ok: true, value: job };
}

/**
 * The config of a run that continues `parent` for `epochs` more epochs: the parent's settings (so
 * model, method and adapter shape match), its step counter carried on by the trainer.
 */
export function continuationConfig(parent: { id: number; name: string; config: string }, epochs: unknown): Record<string, unknown> {
  const { config } = readStoredConfig(parent.config);
  const rest: Partial<RunConfig> = { ...config };
  delete rest.resume_from_checkpoint;
  delete rest.max_steps; // the epochs asked for decide the length
  return {
    ...rest,
    name: `${parent.name} (continued)`.slice(0, 80),
    num_train_epochs: epochs,
    continue_from_run: parent.id,
  };
}

/** The runs that continue run `id` (their config's continue_from_run), oldest first; `number` is what pages
 * call them (jobNumber), `id` what links use. */
export async function findContinuations(id: number): Promise<{ id: number; number: number; name: string; status: string }[]> {
  // The link lives in the config JSON: a text match narrows the rows, the parsed field decides.
  const rows = await db().job.findMany({
    where: { kind: TRAIN_KIND, config: { contains: `"continue_from_run":${id}` } },
    orderBy: { id: "asc" },
    select: { id: true, seq: true, name: true, status: true, config: true },
  });
  return rows.filter((r) => readStoredConfig(r.config).config.continue_from_run === id).map(({ config: _c, seq, ...r }) => ({ ...r, number: jobNumber({ id: r.id, seq }) }));
}

// Continuations of continuations: the curve goes back this many runs at most.
const MAX_CHAIN = 50;

export interface EarlierRun {
  id: number;
  /** What pages call it (jobNumber). */
  number: number;
  name: string;
  /** The whole joined curve of the runs before this one (oldest first). */
  curve: Curve;
}

const stageOf = (config: string) => readStoredConfig(config).config.stage ?? "sft";

/** The run `config` continues and the joined curve of it and the runs it continued in turn; null when it continues none. */
export async function loadEarlierRuns(config: string): Promise<EarlierRun | null> {
  const parentId = readStoredConfig(config).config.continue_from_run;
  if (parentId === undefined) return null;
  const parent = await db().job.findUnique({ where: { id: parentId }, select: { id: true, seq: true, name: true } });
  if (!parent) return null;
  let curve: Curve = { points: [], evalPoints: [] };
  const seen = new Set<number>();
  // A preference run started from an SFT run logs another loss from step 1: its curve stands alone.
  const stage = stageOf(config);
  for (let id: number | undefined = parentId; id !== undefined && !seen.has(id) && seen.size < MAX_CHAIN; ) {
    seen.add(id);
    const job: { config: string } | null = await db().job.findUnique({ where: { id }, select: { config: true } });
    if (!job || stageOf(job.config) !== stage) break;
    const [points, evalPoints] = await Promise.all([loadJobPoints(id), loadEvalPoints(id)]);
    curve = joinCurves({ points, evalPoints }, curve);
    id = readStoredConfig(job.config).config.continue_from_run;
  }
  return { id: parent.id, number: jobNumber(parent), name: parent.name, curve };
}

export type ContinueResult = { ok: true; id: number } | { ok: false; epochsError?: string; formError?: string };

/**
 * Queue the continuation of run `parentId` for `epochs` more epochs (the Run page's Continue
 * training). The epochs field's error comes back on its own; any other (the parent, its model or
 * datasets gone) as one form error, with the field it concerns.
 */
export async function continueRun(parentId: number, epochs: unknown, locale: Locale): Promise<ContinueResult> {
  const parent = await checkContinuedRun(env().runsDir, parentId);
  if (!parent.ok) return { ok: false, formError: translateMessage(parent.fieldErrors.continue_from_run ?? "", locale) };
  const result = await createRun(continuationConfig(parent.value, epochs), locale);
  if (result.ok) return result;
  const { num_train_epochs: epochsError, ...others } = result.fieldErrors;
  const other = Object.entries(others).map(([field, message]) => `${field}: ${message}`);
  return { ok: false, epochsError, formError: result.formError ?? (other.length > 0 ? other.join("; ") : undefined) };
}
