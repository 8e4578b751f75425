// The run id of a route segment (/api/runs/<id>/…), parsed with zod.
import { z } from "zod";

export const runIdParam = z.coerce.number({ error: "run id must be a positive integer" }).int("run id must be a positive integer").positive("run id must be a positive integer");

export async function parseRunId(params: Promise<{ id: string }>) {
  return runIdParam.safeParse((await params).id);
}
