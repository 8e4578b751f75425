// Run-folder files of a job, to and from the remote worker that holds it (protocol:
// lib/remote/protocol.ts). Uploads are resumable (append at the received offset) and
// checksummed: a file lands in the run folder (atomic rename) only when its sha256 matches.
import { readBodyCapped } from "@/lib/http/read-capped";
import fs from "node:fs";
import path from "node:path";
import { db } from "@/lib/db";
import { env } from "@/lib/env";
import { isInsideWithoutSymlinks } from "@/lib/security/no-symlinks";
import { setJobOutputDir } from "@/lib/queue/running";
import { artifactPathSchema, completeUploadSchema, UPLOAD_CHUNK_BYTES } from "@/lib/remote/protocol";
import { authorizeJob, json, serverRunDir } from "../../../../_lib/auth";
import { fileResponse, listRunFiles, sha256File } from "../../../../_lib/files";

export const dynamic = "force-dynamic";

type Params = { params: Promise<{ id: string; path?: string[] }> };

/** Final and in-flight paths of an artifact, both inside the job's server run folder. */
function locate(jobId: number, segments: string[] | undefined) {
  const rel = artifactPathSchema.safeParse((segments ?? []).map(decodeURIComponent).join("/"));
  if (!rel.success) return null;
  // (turbopackIgnore: run-time paths under the runs folder; nothing for the build to trace.)
  const runDir = path.resolve(/*turbopackIgnore: true*/ serverRunDir(jobId));
  const final = path.resolve(/*turbopackIgnore: true*/ runDir, rel.data);
  const part = path.resolve(/*turbopackIgnore: true*/ runDir, ".uploads", `${rel.data}.part`);
  if (!final.startsWith(runDir + path.sep) || !part.startsWith(runDir + path.sep)) return null;
  // A symbolic link anywhere from the runs folder down (the run folder included) is never followed.
  const runsDir = env().runsDir;
  if (!isInsideWithoutSymlinks(runsDir, final) || !isInsideWithoutSymlinks(runsDir, part)) return null;
  return { rel: rel.data, runDir, final, part };
}

const received = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);

export async function GET(req: Request, { params }: Params) {
  const p = await params;
  const auth = await authorizeJob(req, p.id);
  if ("response" in auth) return auth.response;
  const jobId = auth.job.id;
  if (!p.path?.length) {
    const runDir = serverRunDir(jobId);
    if (!isInsideWithoutSymlinks(env().runsDir, runDir)) return json(400, { error: "the run folder is a symbolic link" });
    const files = [];
    for (const rel of listRunFiles(runDir)) {
      const file = path.join(runDir, rel);
      if (!artifactPathSchema.safeParse(rel).success) continue;
      files.push({ path: rel, size: fs.statSync(file).size, sha256: await sha256File(file) });
    }
    return json(200, { files });
  }
  const loc = locate(jobId, p.path);
  if (!loc) return json(400, { error: "invalid artifact path" });
  if (new URL(req.url).searchParams.has("status")) return json(200, { path: loc.rel, received: received(loc.part) });
  if (!fs.existsSync(loc.final)) return json(404, { error: "no such file" });
  return fileResponse(loc.final, req);
}

export async function PUT(req: Request, { params }: Params) {
  const p = await params;
  const auth = await authorizeJob(req, p.id);
  if ("response" in auth) return auth.response;
  const loc = locate(auth.job.id, p.path);
  if (!loc) return json(400, { error: "invalid artifact path" });
  const offset = Number(new URL(req.url).searchParams.get("offset"));
  if (!Number.isInteger(offset) || offset < 0) return json(400, { error: "offset must be a non-negative integer" });
  const have = received(loc.part);
  if (offset !== have) return json(409, { error: `expected offset ${have}`, path: loc.rel, received: have });
  const body = await readBodyCapped(req, UPLOAD_CHUNK_BYTES);
  if (!body) return json(413, { error: `chunks are at most ${UPLOAD_CHUNK_BYTES} bytes` });
  fs.mkdirSync(path.dirname(loc.part), { recursive: true });
  fs.appendFileSync(loc.part, body);
  return json(200, { path: loc.rel, received: have + body.length });
}

export async function POST(req: Request, { params }: Params) {
  const p = await params;
  const auth = await authorizeJob(req, p.id);
  if ("response" in auth) return auth.response;
  const loc = locate(auth.job.id, p.path);
  if (!loc) return json(400, { error: "invalid artifact path" });
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return json(400, { error: "body must be JSON {size, sha256}" });
  }
  const want = completeUploadSchema.safeParse(body);
  if (!want.success) return json(400, { error: want.error.issues[0]?.message ?? "invalid body" });
  // An empty file needs no chunk: create it.
  if (want.data.size === 0 && !fs.existsSync(loc.part)) {
    fs.mkdirSync(path.dirname(loc.part), { recursive: true });
    fs.writeFileSync(/*turbopackIgnore: true*/ loc.part, "");
  }
  const size = received(loc.part);
  const sha256 = fs.existsSync(/*turbopackIgnore: true*/ loc.part) ? await sha256File(loc.part) : null;
  if (size !== want.data.size || sha256 !== want.data.sha256) {
    fs.rmSync(loc.part, { force: true }); // start over
    return json(422, { error: `checksum mismatch for ${loc.rel}: got ${size} bytes, sha256 ${sha256}`, received: 0 });
  }
  fs.mkdirSync(path.dirname(loc.final), { recursive: true });
  fs.renameSync(loc.part, loc.final);
  // The run's files now live on the server: point the run at them (Chat, exports).
  await setJobOutputDir(auth.job.id, auth.workerId, loc.runDir);
  return json(200, { path: loc.rel, size, sha256 });
}
