// dataset_info.json is read-modify-written; two saves at once (two browser tabs, or a fill and a
// register) would otherwise drop one of the entries. This serialises them within the process.
import path from "node:path";

// Kept on globalThis because Next.js can load this module more than once in one server process
// (route bundles, dev reloads), and separate maps would not exclude each other.
const KEY = Symbol.for("tuneboard.datasets.registryLocks");
const store = globalThis as typeof globalThis & { [KEY]?: Map<string, Promise<void>> };
const locks: Map<string, Promise<void>> = (store[KEY] ??= new Map());

/** Runs `fn` once every earlier call for the same data directory has settled. Not re-entrant. */
export async function withRegistryLock<T>(dataDir: string, fn: () => Promise<T>): Promise<T> {
  const key = path.resolve(dataDir);
  const previous = locks.get(key) ?? Promise.resolve();
  const run = previous.then(fn);
  const tail = run.then(
    () => undefined,
    () => undefined,
  );
  locks.set(key, tail);
  try {
    return await run;
  } finally {
    if (locks.get(key) === tail) locks.delete(key);
  }
}
