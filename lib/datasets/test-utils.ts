// Tests run against a throwaway copy of the real data/ folder, so they exercise the shipped
// identity.json and can write freely without touching the repository.
import { cp, mkdtemp, readFile, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach } from "vitest";
import type { DatasetError } from "./errors";

export const REPO_DATA_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../data");

const DATA_FILE = /^[^.].*\.(json|jsonl|csv)$/i;

export interface TempData {
  /** Parent temp folder (outside dataDir), for planting files a test must not be able to reach. */
  base: string;
  dataDir: string;
  cleanup: () => Promise<void>;
}

export async function copyDataDir(): Promise<TempData> {
  // realpath: on macOS tmpdir() is a symlink, and resolveInside returns canonical paths.
  const base = await realpath(await mkdtemp(path.join(tmpdir(), "tuneboard-datasets-")));
  const dataDir = path.join(base, "data");
  // Only the dataset files: data/ also holds runtime state (the database, models, secrets) that
  // tests must neither copy around nor see in directory listings.
  await cp(REPO_DATA_DIR, dataDir, {
    recursive: true,
    filter: (src) => src === REPO_DATA_DIR || (path.dirname(src) === REPO_DATA_DIR && DATA_FILE.test(path.basename(src))),
  });
  return { base, dataDir, cleanup: () => rm(base, { recursive: true, force: true }) };
}

/** A fresh copy of data/ for each test of the calling file (beforeEach/afterEach), with the two
 *  helpers the edit tests share: read a file of the copy, and catch the refusal a promise must end in. */
export function useTempData() {
  let tmp: TempData | undefined;
  beforeEach(async () => {
    tmp = await copyDataDir();
  });
  afterEach(async () => {
    await tmp?.cleanup();
  });
  const current = (): TempData => {
    if (!tmp) throw new Error("useTempData: only inside a test");
    return tmp;
  };
  return {
    get dataDir() {
      return current().dataDir;
    },
    readText: (file: string) => readFile(path.join(current().dataDir, file), "utf8"),
    caught: (p: Promise<unknown>) =>
      p.then(() => { throw new Error("expected a refusal"); }, (e: unknown) => e as DatasetError),
  };
}
