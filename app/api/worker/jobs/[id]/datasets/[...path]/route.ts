// GET /api/worker/jobs/:id/datasets/<file> — one dataset file of a job the worker holds (Range
// requests resume a broken download). Only files of the job's own datasets, inside the data folder.
import { env } from "@/lib/env";
import { readRegistry } from "@/lib/datasets/registry";
import { resolveInside } from "@/lib/datasets/roots";
import { datasetPathSchema } from "@/lib/remote/protocol";
import { authorizeJob, json } from "../../../../_lib/auth";
import { fileResponse } from "../../../../_lib/files";

export const dynamic = "force-dynamic";

export async function GET(req: Request, { params }: { params: Promise<{ id: string; path: string[] }> }) {
  const p = await params;
  const auth = await authorizeJob(req, p.id);
  if ("response" in auth) return auth.response;
  const rel = datasetPathSchema.safeParse(p.path.map(decodeURIComponent).join("/"));
  if (!rel.success) return json(400, { error: "invalid dataset path" });
  let names: string[] = [];
  try {
    const d = (JSON.parse(auth.job.config) as { dataset?: unknown }).dataset;
    names = Array.isArray(d) ? d.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return json(422, { error: "the job's config is not JSON" });
  }
  const registry = await readRegistry(env().dataDir);
  const allowed = names.some((n) => registry.entries.get(n)?.file_name === rel.data);
  if (!allowed) return json(404, { error: "not a dataset file of this job" });
  const file = await resolveInside(env().dataDir, rel.data, "dataset");
  return fileResponse(file, req);
}
