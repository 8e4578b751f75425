// A worker records one evaluation on the held-out split: idempotent by (jobId, step), and only
// while it holds the job's lease (same rule as lib/queue/progress.ts).
import { db, type Db } from "../db";
import { z } from "zod";

export const evalInputSchema = z.object({
  step: z.number().int().nonnegative(),
  epoch: z.number().finite(),
  evalLoss: z.number().finite(),
});
export type EvalInput = z.input<typeof evalInputSchema>;

export async function recordEval(jobId: number, workerId: string, input: EvalInput, client: Db = db()): Promise<boolean> {
  const e = evalInputSchema.parse(input);
  const changed = await client.$executeRaw`
    INSERT INTO "EvalMetric" ("jobId", step, epoch, "evalLoss", "createdAt")
    SELECT ${jobId}, ${e.step}, ${e.epoch}, ${e.evalLoss}, ${new Date()}
    FROM "Job" WHERE id = ${jobId} AND "workerId" = ${workerId} AND status = 'running'
    ON CONFLICT ("jobId", step) DO UPDATE SET epoch = excluded.epoch, "evalLoss" = excluded."evalLoss"`;
  return changed === 1;
}
