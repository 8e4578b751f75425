// Delete a finished run: its database rows, and its output folder only when that folder lies
// inside the runs root (a path in the database is never trusted to point somewhere safe).
import fs from "node:fs";
import path from "node:path";
import { db, type Db } from "@/lib/db";
import { deleteFinishedJob } from "@/lib/queue/delete";

export type DeleteRunResult =
  | { ok: true; removedDir: string | null; keptDir: string | null }
  | { ok: false; state: "not_found" }
  | { ok: false; state: "not_finished"; status: string };

/**
 * The real path of `dir` when it is a folder strictly inside `root` (after resolving symlinks),
 * else null. The folder itself must not be a symlink: removing it would remove the link's target.
 */
export function outputDirInside(root: string, dir: string): string | null {
  let realRoot: string;
  let real: string;
  try {
    realRoot = fs.realpathSync(root);
    if (fs.lstatSync(dir).isSymbolicLink()) return null;
    real = fs.realpathSync(dir);
  } catch {
    return null; // missing: nothing to remove
  }
  const rel = path.relative(realRoot, real);
  if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) return null;
  return fs.statSync(real).isDirectory() ? real : null;
}

export async function deleteRun(jobId: number, opts: { runsDir: string }, client: Db = db()): Promise<DeleteRunResult> {
  const deleted = await deleteFinishedJob(jobId, client);
  if (!deleted.ok) return deleted;
  const dir = deleted.outputDir ?? path.join(/*turbopackIgnore: true*/ opts.runsDir, `run-${jobId}`);
  const inside = outputDirInside(opts.runsDir, dir);
  if (inside) {
    fs.rmSync(inside, { recursive: true, force: true });
    return { ok: true, removedDir: inside, keptDir: null };
  }
  return { ok: true, removedDir: null, keptDir: fs.existsSync(/*turbopackIgnore: true*/ dir) ? dir : null };
}
