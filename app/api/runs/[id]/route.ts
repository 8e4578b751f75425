// GET /api/runs/<id>: the run's whole visible state from the database (status, every logged
// point, eval points, log tail). DELETE /api/runs/<id>: delete a finished run with its outputs.
import { NextResponse } from "next/server";
import { env } from "@/lib/env";
import { loadJobSnapshot } from "@/lib/jobs/snapshot";
import { deleteRun } from "@/lib/jobs/delete-run";
import { parseRunId } from "@/lib/jobs/run-id";

type Ctx = { params: Promise<{ id: string }> };

export async function GET(_req: Request, { params }: Ctx) {
  const id = await parseRunId(params);
  if (!id.success) return NextResponse.json({ error: id.error.issues[0]?.message, field: "id" }, { status: 400 });
  const snapshot = await loadJobSnapshot(id.data);
  if (!snapshot) return NextResponse.json({ error: `run ${id.data} does not exist`, state: "not_found" }, { status: 404 });
  return NextResponse.json(snapshot);
}

export async function DELETE(_req: Request, { params }: Ctx) {
  const id = await parseRunId(params);
  if (!id.success) return NextResponse.json({ error: id.error.issues[0]?.message, field: "id" }, { status: 400 });
  const result = await deleteRun(id.data, { runsDir: env().runsDir });
  if (!result.ok) {
    if (result.state === "not_found") return NextResponse.json({ error: `run ${id.data} does not exist`, state: result.state }, { status: 404 });
    return NextResponse.json(
      { error: `run ${id.data} is ${result.status}: abort it first, only finished runs can be deleted`, state: result.state, status: result.status },
      { status: 409 },
    );
  }
  return NextResponse.json({ ok: true, removedOutputs: result.removedDir !== null, keptDir: result.keptDir });
}
