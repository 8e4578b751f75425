// GET /api/runs/<id>/adapter: the LoRA adapter of a finished run as a .tar of
// adapter_config.json + adapter_model.safetensors (loadable by peft as is). Login is enforced by
// server.ts for every /api route; the run folder must resolve inside the runs root.
import path from "node:path";
import { NextResponse } from "next/server";
import { z } from "zod";
import { env } from "@/lib/env";
import { ADAPTER_FILES, AdapterRunError, resolveAdapterRun } from "@/lib/jobs/adapter-runs";
import { tarStream } from "@/lib/jobs/tar";

export const dynamic = "force-dynamic";

const idSchema = z.string().regex(/^\d{1,12}$/, "run id must be a positive integer").transform(Number).pipe(z.number().int().positive("run id must be a positive integer"));

export async function GET(_req: Request, { params }: { params: Promise<{ id: string }> }) {
  const id = idSchema.safeParse((await params).id);
  if (!id.success) return NextResponse.json({ error: id.error.issues[0]?.message ?? "bad run id", field: "id" }, { status: 400 });
  let adapterDir: string;
  try {
    adapterDir = (await resolveAdapterRun(env().runsDir, id.data)).adapterDir;
  } catch (err) {
    if (err instanceof AdapterRunError) return NextResponse.json({ error: err.message }, { status: 404 });
    throw err;
  }
  const folder = `run-${id.data}-adapter`;
  const body = tarStream(ADAPTER_FILES.map((f) => ({ name: `${folder}/${f}`, path: path.join(adapterDir, f) })));
  return new Response(body, {
    headers: {
      "Content-Type": "application/x-tar",
      "Content-Disposition": `attachment; filename="${folder}.tar"`,
      "Cache-Control": "no-store",
    },
  });
}
