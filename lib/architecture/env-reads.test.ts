// One typed settings object per process: outside lib/env.ts, production TypeScript reads no
// environment variable directly (it calls env()). Handing the environment on to a child process
// (`{ ...process.env, … }`) is not a read. Tests and test-support folders set up environments
// for the processes they start and are not checked.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CHECKED = ["lib", "app", "worker", "components", "prisma", "server.ts"];
const SKIP = /(^|\/)(node_modules|generated|test-support|trainer)(\/|$)|\.test\.tsx?$/;
const READ = /process\.env(\.[A-Za-z_]\w*|\[\s*["'`])|\{[^}]*\}\s*=\s*process\.env\b/g;

function files(rel: string): string[] {
  const abs = path.join(ROOT, rel);
  if (fs.statSync(abs).isFile()) return [rel];
  return fs
    .readdirSync(abs, { withFileTypes: true })
    .flatMap((e) => (SKIP.test(`${rel}/${e.name}`) ? [] : e.isDirectory() ? files(`${rel}/${e.name}`) : /\.(ts|tsx)$/.test(e.name) ? [`${rel}/${e.name}`] : []));
}

it("reads environment variables only in lib/env.ts", () => {
  const reads = CHECKED.flatMap(files)
    .filter((f) => f !== "lib/env.ts")
    .flatMap((f) => [...fs.readFileSync(path.join(ROOT, f), "utf8").matchAll(READ)].map((m) => `${f}: ${m[0]}`));
  expect(reads, "add the variable to lib/env.ts's schema and read it through env()").toEqual([]);
});
