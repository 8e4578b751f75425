// Test support: starts a fixture script (lib/test-support/*.fixture.ts) as a real process. The child
// prints "ready" once connected, waits for "go" on stdin so all children start at the same
// moment, and prints its result as the last line of JSON.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const tsx = path.join(root, "node_modules", ".bin", "tsx");

export interface FixtureProcess<T> {
  ready: Promise<void>;
  go: () => void;
  result: Promise<T>;
}

export function startFixture<T>(fixture: string, args: string[], label: string): FixtureProcess<T> {
  const child = spawn(tsx, [path.join(here, fixture), ...args], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let onReady: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  child.stdout.on("data", (d) => {
    out += d;
    if (out.startsWith("ready\n")) onReady();
  });
  child.stderr.on("data", (d) => (err += d));
  const result = new Promise<T>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${label} exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out.trim().split("\n").pop()!) as T);
      } catch {
        reject(new Error(`${label} printed no result: ${out} ${err}`));
      }
    });
  });
  result.catch(() => onReady()); // a child that dies before "ready" must not hang the test
  return { ready, go: () => child.stdin.end("go\n"), result };
}
