// Every write to the Job table goes through lib/queue, where the status and lease rules live:
// no Prisma job create/update/delete and no INSERT/UPDATE/DELETE on "Job" in production code
// anywhere else.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CHECKED = ["lib", "app", "worker", "components", "server.ts"];
const SKIP = /(^|\/)(node_modules|generated|test-support|trainer)(\/|$)|\.test\.tsx?$|^lib\/queue\//;
const WRITE = /\.job\.(create|createMany|update|updateMany|upsert|delete|deleteMany)\b|(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"Job"/g;

function files(rel: string): string[] {
  const abs = path.join(ROOT, rel);
  if (fs.statSync(abs).isFile()) return [rel];
  return fs
    .readdirSync(abs, { withFileTypes: true })
    .flatMap((e) => (SKIP.test(`${rel}/${e.name}`) ? [] : e.isDirectory() ? files(`${rel}/${e.name}`) : /\.(ts|tsx)$/.test(e.name) ? [`${rel}/${e.name}`] : []));
}

it("writes the Job table only in lib/queue", () => {
  const writes = CHECKED.flatMap(files).flatMap((f) =>
    [...fs.readFileSync(path.join(ROOT, f), "utf8").matchAll(WRITE)].map((m) => `${f}: ${m[0]}`),
  );
  expect(writes, "add a named function to lib/queue and call it").toEqual([]);
});
