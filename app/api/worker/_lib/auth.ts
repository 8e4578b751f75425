// Worker-token authentication for the worker file-transfer routes (app/api/worker/**), and the
// rule that a job's files are only for the worker that holds its lease.
import path from "node:path";
import { NextResponse } from "next/server";
import { z } from "zod";
import { env } from "@/lib/env";
import { isValidToken } from "@/lib/auth";
import { readWorkerToken } from "@/lib/worker-token";
import { db, type Job } from "@/lib/db";
import { WORKER_ID_HEADER } from "@/lib/remote/protocol";

export const json = (status: number, body: unknown) => NextResponse.json(body, { status });

const workerIdSchema = z.string().min(1).max(200);

/** The worker id of an authenticated request, or the error response. Constant-time token check. */
export function authenticate(req: Request): { workerId: string } | { response: Response } {
  const header = req.headers.get("authorization") ?? "";
  const token = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "";
  if (!token || !isValidToken(token, readWorkerToken(env()))) return { response: json(401, { error: "worker token required" }) };
  const id = workerIdSchema.safeParse(req.headers.get(WORKER_ID_HEADER));
  if (!id.success) return { response: json(400, { error: `${WORKER_ID_HEADER} header required` }) };
  return { workerId: id.data };
}

/** The running job `rawId` held by `workerId`, or the error response. */
export async function heldJob(rawId: string, workerId: string): Promise<{ job: Job } | { response: Response }> {
  const id = z.coerce.number().int().positive().safeParse(rawId);
  if (!id.success) return { response: json(400, { error: "job id must be a positive integer" }) };
  const job = await db().job.findUnique({ where: { id: id.data } });
  if (!job) return { response: json(404, { error: `job ${id.data} does not exist` }) };
  if (job.status !== "running" || job.workerId !== workerId) {
    return { response: json(409, { error: `job ${id.data} is not held by worker ${workerId}` }) };
  }
  return { job };
}

/** The server's run folder of a job (what a local worker would use). */
export function serverRunDir(jobId: number): string {
  return path.join(env().runsDir, `run-${jobId}`);
}

/** Authenticate and load the held job in one go. */
export async function authorizeJob(req: Request, rawId: string): Promise<{ job: Job; workerId: string } | { response: Response }> {
  const auth = authenticate(req);
  if ("response" in auth) return auth;
  const held = await heldJob(rawId, auth.workerId);
  if ("response" in held) return held;
  return { job: held.job, workerId: auth.workerId };
}
