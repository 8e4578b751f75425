// Paths the browser names (dataset files, new dataset names) are only ever opened through
// resolveInside, so a crafted name cannot read or overwrite anything outside the data directory.
import { lstat, realpath } from "node:fs/promises";
import path from "node:path";
import { DatasetError, isNotFound } from "./errors";

function refuse(relative: string, why: string, field: string): DatasetError {
  return new DatasetError("outside_root", field, `"${relative}" ${why}`);
}

/**
 * Resolves `relative` against `root` and returns the canonical absolute path, refusing absolute
 * paths, `..` escapes and symlinks whose target lies outside root. The target need not exist
 * (a file about to be written): then its nearest existing ancestor is the one checked.
 *
 * The returned path is built on realpath(root), so later opens do not follow the same symlink
 * chain again; a symlink swapped in after this check is still possible (no O_NOFOLLOW in fs
 * promises), which is acceptable for a single-user local dashboard.
 */
export async function resolveInside(root: string, relative: string, field = "path"): Promise<string> {
  if (typeof relative !== "string" || relative.length === 0) throw refuse(String(relative), "is empty", field);
  if (relative.includes("\0")) throw refuse(relative.replaceAll("\0", "\\0"), "contains a NUL byte", field);
  // Both flavours: a Windows-style "C:\\x" or "\\\\server\\x" is just as absolute in intent.
  if (path.isAbsolute(relative) || path.win32.isAbsolute(relative)) {
    throw refuse(relative, "is an absolute path", field);
  }

  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch (err) {
    if (isNotFound(err)) throw new DatasetError("not_found", field, `data directory ${root} does not exist`);
    throw err;
  }

  const lexical = path.resolve(realRoot, relative);
  if (!isWithin(realRoot, lexical)) throw refuse(relative, "points outside the data directory", field);

  // Walk up to the nearest component that exists and canonicalise it: this is where a symlink
  // pointing outside (to a file or a directory) is caught.
  const missing: string[] = [];
  let probe = lexical;
  for (;;) {
    try {
      const real = await realpath(probe);
      const canonical = path.join(real, ...missing.reverse());
      if (!isWithin(realRoot, canonical)) throw refuse(relative, "leads outside the data directory via a symlink", field);
      return canonical;
    } catch (err) {
      if (err instanceof DatasetError) throw err;
      if (!isNotFound(err)) throw err;
      // realpath says ENOENT both for a missing path and for a dangling symlink; writing through
      // the latter would create a file wherever it points, so it is refused outright.
      if (await isSymlink(probe)) throw refuse(relative, "is a symlink to a missing target", field);
      missing.push(path.basename(probe));
      probe = path.dirname(probe);
      // realRoot exists, and lexical is inside it, so the walk ends there at the latest.
    }
  }
}

/** True when `child` is `parent` or below it (both absolute and normalised). */
export function isWithin(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  // Compare whole segments: a file named "..notes" inside root is fine.
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

async function isSymlink(p: string): Promise<boolean> {
  try {
    return (await lstat(p)).isSymbolicLink();
  } catch {
    return false;
  }
}
