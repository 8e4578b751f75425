// Pages and components read through the data modules (lib/data/*, lib/jobs/list.ts, …), never
// through the Prisma client: a page's queries live in one module per area, where they can be
// reused and tested. Type-only imports of lib/db are fine.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DB_IMPORT = /^import\s+(?!type\b)[^;]*from\s+["']@\/lib\/db["']/m;

function files(rel: string): string[] {
  return fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true }).flatMap((e) => {
    const child = `${rel}/${e.name}`;
    if (e.isDirectory()) return e.name === "api" ? [] : files(child);
    return /\.tsx?$/.test(e.name) && !/\.test\.tsx?$/.test(e.name) ? [child] : [];
  });
}

it("pages and components do not query the database directly", () => {
  const direct = [...files("app"), ...files("components")].filter((f) => DB_IMPORT.test(fs.readFileSync(path.join(ROOT, f), "utf8")));
  expect(direct, "move the query into a data module under lib/data/").toEqual([]);
});
