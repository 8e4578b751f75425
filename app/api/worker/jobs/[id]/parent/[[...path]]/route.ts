// The final state of the run a job continues (its config's continue_from_run), for the remote
// worker that holds the job: the files at the top of the earlier run's server folder (adapter,
// trainer_state.pt, …; no checkpoints), listed with sha256 or served one by one (Range for resumed
// downloads). Read-only: the earlier run's folder is never written through here.
import fs from "node:fs";
import path from "node:path";
import { env } from "@/lib/env";
import { isInsideWithoutSymlinks } from "@/lib/security/no-symlinks";
import { artifactPathSchema } from "@/lib/remote/protocol";
import { runConfigSchema } from "@/lib/schemas/run-config";
import type { Job } from "@/lib/db";
import { authorizeJob, json, serverRunDir } from "../../../../_lib/auth";
import { fileResponse, sha256File } from "../../../../_lib/files";

export const dynamic = "force-dynamic";

type Params = { params: Promise<{ id: string; path?: string[] }> };

/** The server folder of the run `job` continues, or an error response. */
function parentFolder(job: Job): { runDir: string; parent: number } | { response: Response } {
  let raw: unknown;
  try {
    raw = JSON.parse(job.config);
  } catch {
    return { response: json(422, { error: "the job's config is not JSON" }) };
  }
  const parsed = runConfigSchema.safeParse(raw);
  const parent = parsed.success ? parsed.data.continue_from_run : undefined;
  if (parent === undefined) return { response: json(404, { error: `job ${job.id} continues no earlier run` }) };
  const runDir = path.resolve(/*turbopackIgnore: true*/ serverRunDir(parent));
  if (!isInsideWithoutSymlinks(env().runsDir, runDir)) return { response: json(400, { error: "the earlier run's folder is a symbolic link" }) };
  return { runDir, parent };
}

/** Plain files directly in `dir` (no folders, nothing hidden or in flight). */
function topFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith(".") && artifactPathSchema.safeParse(e.name).success)
    .map((e) => e.name)
    .sort();
}

export async function GET(req: Request, { params }: Params) {
  const p = await params;
  const auth = await authorizeJob(req, p.id);
  if ("response" in auth) return auth.response;
  const folder = parentFolder(auth.job);
  if ("response" in folder) return folder.response;
  if (!p.path?.length) {
    const files = [];
    for (const name of topFiles(folder.runDir)) {
      const file = path.join(folder.runDir, name);
      files.push({ path: name, size: fs.statSync(file).size, sha256: await sha256File(file) });
    }
    return json(200, { files });
  }
  const name = p.path.map(decodeURIComponent).join("/");
  if (!topFiles(folder.runDir).includes(name)) return json(404, { error: `run ${folder.parent} has no file ${JSON.stringify(name)} to continue from` });
  return fileResponse(path.join(folder.runDir, name), req);
}
