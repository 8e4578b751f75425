// POST /api/runs/<id>/resume: put a cancelled or failed run back in the queue; the worker
// continues it from its newest checkpoint (lib/queue/resume.ts).
import { NextResponse } from "next/server";
import { resumeJob } from "@/lib/queue/resume";
import { toStatusUpdate } from "@/lib/jobs/snapshot";
import { parseRunId } from "@/lib/jobs/run-id";
import { getRealtime } from "@/lib/realtime/registry";

export async function POST(_req: Request, { params }: { params: Promise<{ id: string }> }) {
  const id = await parseRunId(params);
  if (!id.success) return NextResponse.json({ error: id.error.issues[0]?.message, field: "id" }, { status: 400 });
  const result = await resumeJob(id.data);
  if (!result.ok) {
    if (result.state === "not_found") return NextResponse.json({ error: `run ${id.data} does not exist`, state: result.state }, { status: 404 });
    return NextResponse.json(
      { error: `run ${id.data} is ${result.status}: only cancelled or failed runs can be resumed`, state: result.state, status: result.status },
      { status: 409 },
    );
  }
  const update = toStatusUpdate(result.job);
  // Every open page of this run learns at once that it is queued again (room name: lib/realtime/server.ts).
  getRealtime()?.io.to(`job:${id.data}`).emit("job:status", update);
  return NextResponse.json({ ok: true, job: update });
}
