// POST /api/runs: queue a run from JSON (the same validation as the Train form).
import { NextResponse } from "next/server";
import { createRun } from "@/lib/jobs/create-run";

export async function POST(req: Request) {
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return NextResponse.json({ error: "body must be JSON" }, { status: 400 });
  }
  const result = await createRun(body);
  if (!result.ok) return NextResponse.json({ error: "invalid run config", fieldErrors: result.fieldErrors }, { status: 422 });
  return NextResponse.json({ id: result.id }, { status: 201 });
}
