// dataset_info.json and dataset files are read by LLaMA-Factory and by the worker while the UI
// may be rewriting them; a reader must see the old file or the new one, never half of one.
import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import path from "node:path";

/**
 * Writes `data` to a temp file in the same directory (rename is only atomic within one
 * filesystem), flushes it to disk, then renames it over `target`. On failure the temp file is
 * removed and `target` is untouched.
 */
export async function writeFileAtomic(target: string, data: string): Promise<void> {
  const dir = path.dirname(target);
  // Dot-prefixed and random so it never collides with a concurrent write or looks like a dataset.
  const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const handle = await open(temp, "wx");
    try {
      await handle.writeFile(data, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** JSON the way LLaMA-Factory's own files look: 2-space indent, UTF-8 kept, trailing newline. */
export function toJsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
