// GET /api/worker/jobs/:id/bundle — what a remote worker needs to run a job it holds: the run
// config and a snapshot manifest of its datasets (dataset_info.json entries, files with sha256).
import { env } from "@/lib/env";
import { readRegistry } from "@/lib/datasets/registry";
import { resolveInside } from "@/lib/datasets/roots";
import { isDatasetError } from "@/lib/datasets/errors";
import { bundleSchema, type Bundle } from "@/lib/remote/protocol";
import { authorizeJob, json } from "../../../_lib/auth";
import { sha256File } from "../../../_lib/files";
import fs from "node:fs";

export const dynamic = "force-dynamic";

export async function GET(req: Request, { params }: { params: Promise<{ id: string }> }) {
  const auth = await authorizeJob(req, (await params).id);
  if ("response" in auth) return auth.response;
  const { job } = auth;
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(job.config) as Record<string, unknown>;
  } catch {
    return json(422, { error: "the job's config is not JSON" });
  }
  const names = Array.isArray(config.dataset) ? config.dataset.filter((d): d is string => typeof d === "string") : [];
  try {
    const registry = await readRegistry(env().dataDir);
    const bundle: Bundle = { jobId: job.id, config, datasetInfo: {}, files: [] };
    for (const name of names) {
      const entry = registry.entries.get(name);
      if (!entry) return json(422, { error: `dataset "${name}" is not registered on the server` });
      bundle.datasetInfo[name] = registry.raw[name] as Record<string, unknown>;
      const file = await resolveInside(env().dataDir, entry.file_name, "dataset");
      if (bundle.files.some((f) => f.path === entry.file_name)) continue;
      bundle.files.push({ path: entry.file_name, size: fs.statSync(file).size, sha256: await sha256File(file) });
    }
    return json(200, bundleSchema.parse(bundle));
  } catch (err) {
    if (isDatasetError(err)) return json(422, { error: err.message });
    throw err;
  }
}
