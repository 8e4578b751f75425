import { NextResponse } from "next/server";
import { z } from "zod";
import { cancelJob } from "@/lib/queue/cancel";
import { getRealtime } from "@/lib/realtime/registry";

export async function POST(_req: Request, { params }: { params: Promise<{ id: string }> }) {
  const id = z.coerce.number().int().positive().safeParse((await params).id);
  if (!id.success) return NextResponse.json({ error: "run id must be a positive integer" }, { status: 400 });
  const result = await cancelJob(id.data);
  // Tell the workers now; their next heartbeat would notice within a second anyway.
  getRealtime()?.cancelJob(id.data);
  if (!result.ok) {
    const status = result.state === "not_found" ? 404 : 409;
    const error = result.state === "not_found" ? `run ${id.data} does not exist` : "the run has already finished";
    return NextResponse.json({ error, state: result.state }, { status });
  }
  return NextResponse.json(result);
}
