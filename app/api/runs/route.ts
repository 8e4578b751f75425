// GET /api/runs[?status=…]: the runs list (newest first, as on the Runs page).
// POST /api/runs: queue a run from JSON (the same validation as the Train form).
import { NextResponse } from "next/server";
import { z } from "zod";
import { createRun } from "@/lib/jobs/create-run";
import { listRuns } from "@/lib/jobs/list";
import { jobStatusSchema } from "@/lib/queue/types";

const listQuery = z.object({ status: jobStatusSchema.optional() });

export async function GET(req: Request) {
  const query = listQuery.safeParse(Object.fromEntries(new URL(req.url).searchParams));
  if (!query.success) {
    return NextResponse.json({ error: "status must be one of queued, running, succeeded, failed, cancelled", field: "status" }, { status: 400 });
  }
  return NextResponse.json({ runs: await listRuns(query.data.status ?? null) });
}

export async function POST(req: Request) {
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return NextResponse.json({ error: "body must be JSON" }, { status: 400 });
  }
  const result = await createRun(body);
  if (!result.ok && result.formError) return NextResponse.json({ error: result.formError, fieldErrors: result.fieldErrors }, { status: 429 });
  if (!result.ok) return NextResponse.json({ error: "invalid run config", fieldErrors: result.fieldErrors }, { status: 422 });
  return NextResponse.json({ id: result.id }, { status: 201 });
}
