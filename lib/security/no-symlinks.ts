// File routes that take a path from a request must not follow a symbolic link that sits inside
// their folder: a link planted in a run folder would otherwise read or write anywhere the server can.
import fs from "node:fs";
import path from "node:path";

/**
 * Whether `target` lies inside `root` with no symbolic link on the way: every component below
 * `root` that exists is a real file or folder. `root` itself is taken as configured (it may sit
 * under a linked folder such as /tmp on some systems); components not created yet are fine.
 */
export function isInsideWithoutSymlinks(root: string, target: string): boolean {
  const base = path.resolve(root);
  const full = path.resolve(base, target);
  const rel = path.relative(base, full);
  if (!rel || rel.startsWith("..") || path.isAbsolute(rel)) return false;
  let at = base;
  for (const part of rel.split(path.sep)) {
    at = path.join(at, part);
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(at);
    } catch {
      return true; // the rest does not exist yet: nothing further to follow
    }
    if (stat.isSymbolicLink()) return false;
  }
  return true;
}
