/**
 * Database URL helpers. No native modules here: prisma.config.ts loads this file (and lib/env.ts, zod only).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { env } from "../lib/env";

export const DEFAULT_DATABASE_URL = "file:./data/tuneboard.db";

export type DatabaseProvider = "sqlite" | "postgresql";

/**
 * Repository root (the folder holding prisma/schema.prisma): TUNEBOARD_ROOT when set
 * (as lib/env.ts does), else the folder above this file, else the nearest folder
 * above the working directory that holds prisma/schema.prisma (a bundled Next.js
 * server does not run this file from its source location).
 */
export function repoRoot(): string {
  const configured = env().TUNEBOARD_ROOT;
  if (configured) return path.resolve(configured);
  const isRoot = (dir: string) => fs.existsSync(path.join(dir, "prisma", "schema.prisma"));
  try {
    const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
    if (isRoot(here)) return here;
  } catch {
    // import.meta.url is not a file: URL (bundled): fall through
  }
  for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
    if (isRoot(dir)) return dir;
    if (path.dirname(dir) === dir) return process.cwd();
  }
}

/** DATABASE_URL, or the default SQLite file data/tuneboard.db under the repository root. */
export function databaseUrl(url: string | undefined = env().DATABASE_URL): string {
  return url && url.trim() !== "" ? url.trim() : DEFAULT_DATABASE_URL;
}

export function providerOf(url: string): DatabaseProvider {
  if (url.startsWith("file:")) return "sqlite";
  if (/^postgres(ql)?:\/\//.test(url)) return "postgresql";
  throw new Error(`Unsupported DATABASE_URL scheme "${url.split(":")[0]}:" (expected file: or postgresql://)`);
}

/**
 * Absolute file path of a SQLite `file:` URL. Relative paths are resolved against
 * the repository root, never the working directory, so the web server, the worker,
 * the tests and the migration command all open the same file. A `?query` part is
 * dropped (better-sqlite3 takes a plain path).
 */
export function sqliteFilePath(url: string): string {
  if (!url.startsWith("file:")) throw new Error(`Not a SQLite file: URL: ${url}`);
  let p = url.slice("file:".length).split("?")[0];
  if (p.startsWith("//")) p = p.slice(2); // file:///abs/path
  if (p === ":memory:") return p;
  return path.isAbsolute(p) ? p : path.resolve(repoRoot(), p);
}

/** The URL with a SQLite path made absolute (what the official CLI gets from prisma.config.ts). */
export function absoluteUrl(url: string): string {
  return providerOf(url) === "sqlite" ? `file:${sqliteFilePath(url)}` : url;
}
