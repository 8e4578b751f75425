// Reads of training runs for the Runs, Compare, Train (clone), Chat and Export pages, and the Identity
// check result kept on each run (Job.identityCheck, written through lib/queue/identity-check.ts).
import { z } from "zod";
import { realOrSelf } from "@/lib/api/models";
import { db } from "@/lib/db";
import { setIdentityCheck } from "@/lib/queue/identity-check";
import { RUNS_LIST_LIMIT, TRAIN_KIND } from "@/lib/jobs/list";

/** One job with every column (the run page), or null. */
export function findJob(id: number) {
  return db().job.findUnique({ where: { id } });
}

/** The stored config of a run to clone, or null. */
export function findCloneSource(id: number) {
  return db().job.findUnique({ where: { id }, select: { id: true, seq: true, name: true, config: true } });
}

/** The runs the Compare picker offers, newest first. */
export function compareChoices() {
  return db().job.findMany({
    where: { kind: TRAIN_KIND },
    orderBy: { id: "desc" },
    take: RUNS_LIST_LIMIT,
    select: { id: true, seq: true, name: true, status: true },
  });
}

/** The compared runs (in any order; missing ids are absent). */
export function compareRuns(ids: number[]) {
  return db().job.findMany({ where: { id: { in: ids } }, select: { id: true, seq: true, name: true, status: true, config: true, finalLoss: true } });
}

/** The newest succeeded jobs (Chat picks those with an adapter). */
export function succeededJobs(take = 100) {
  return db().job.findMany({ where: { status: "succeeded" }, orderBy: { id: "desc" }, take });
}

/** The run whose adapter folder is `adapterDir` (a training job's output, compared as real paths), or null. */
export async function findRunByAdapterDir(adapterDir: string): Promise<{ id: number } | null> {
  const exact = await db().job.findFirst({ where: { kind: TRAIN_KIND, outputDir: adapterDir }, orderBy: { id: "desc" }, select: { id: true } });
  if (exact) return exact;
  const real = realOrSelf(adapterDir);
  const runs = await db().job.findMany({
    where: { kind: TRAIN_KIND, outputDir: { not: null } },
    orderBy: { id: "desc" },
    take: RUNS_LIST_LIMIT,
    select: { id: true, outputDir: true },
  });
  const found = runs.find((r) => realOrSelf(r.outputDir!) === real);
  return found ? { id: found.id } : null;
}

/** The facts a model card states about run `id`, or null. */
export function findRunCardFacts(id: number) {
  return db().job.findUnique({ where: { id }, select: { name: true, config: true, finalLoss: true, finalEvalLoss: true } });
}

/** The Identity check's last result on a run's adapter and the system prompt the chat sent with it. */
export const identityCheckRecordSchema = z.object({
  name: z.string().trim().min(1).max(200),
  author: z.string().trim().max(200),
  total: z.number().int().min(1).max(10_000),
  with_name: z.number().int().min(0),
  with_author: z.number().int().min(0),
  with_both: z.number().int().min(0),
  clean: z.number().int().min(0),
  example_answer: z.string().max(2_000),
  system_prompt: z.string().max(100_000),
  checked_at: z.string().datetime(),
});
export type IdentityCheckRecord = z.infer<typeof identityCheckRecordSchema>;

/** Stores `record` on run `runId` (a column of the run, so deleting the run deletes it); nothing when the run is gone. */
export async function saveIdentityCheck(runId: number, record: IdentityCheckRecord): Promise<void> {
  await setIdentityCheck(runId, JSON.stringify(identityCheckRecordSchema.parse(record)));
}

/** The stored Identity check of run `runId`, or null (none, or a row that no longer parses). */
export async function findIdentityCheck(runId: number): Promise<IdentityCheckRecord | null> {
  const row = await db().job.findUnique({ where: { id: runId }, select: { identityCheck: true } });
  if (!row?.identityCheck) return null;
  try {
    const parsed = identityCheckRecordSchema.safeParse(JSON.parse(row.identityCheck));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

const identityCheckInput = z.object({
  adapterPath: z.string().min(1).max(4_096),
  check: identityCheckRecordSchema.omit({ checked_at: true }),
});

/** Stores a Chat page Identity check for the run whose adapter answered; false when the adapter is no run's output (nothing stored). */
export async function recordIdentityCheckForAdapter(input: unknown): Promise<boolean> {
  const parsed = identityCheckInput.parse(input);
  const run = await findRunByAdapterDir(parsed.adapterPath);
  if (!run) return false;
  await saveIdentityCheck(run.id, { ...parsed.check, checked_at: new Date().toISOString() });
  return true;
}
