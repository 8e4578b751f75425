// The layering rules, checked on the source: every static, dynamic and type-only import in lib/
// and app/ is resolved to a file and its top-level folder compared with what that layer may use.
//   lib/  (domain, contracts, queue, test-support) must not import worker/, app/ or scripts/
//   app/  (pages, actions, route handlers) must not import worker/
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SOURCE = /\.(ts|tsx|mts|mjs)$/;
const SKIP_DIRS = new Set(["node_modules", "generated", ".next"]);
const SELF = "lib/architecture/import-graph.test.ts"; // its examples are strings, not imports

const FORBIDDEN: Record<string, string[]> = {
  lib: ["worker", "app", "scripts"],
  app: ["worker"],
};

// Imports the trainer command builder's move into lib/configs removes; each entry fails the
// test once its import is gone, so the list only shrinks.
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out.push(...sourceFiles(rel));
    } else if (SOURCE.test(entry.name)) out.push(rel);
  }
  return out;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;

/** Import specifiers of a source file: `import … from "x"`, `import "x"`, `import("x")`, `export … from "x"`. */
export function importSpecifiers(source: string): string[] {
  return [...source.matchAll(IMPORT)].map((m) => m[1]);
}

/** Repository-relative target of a specifier (no extension), or null for packages and node: builtins. */
export function resolveSpecifier(fromFile: string, spec: string): string | null {
  if (spec.startsWith("@/")) return path.posix.normalize(spec.slice(2));
  if (spec.startsWith(".")) return path.posix.normalize(path.posix.join(path.posix.dirname(fromFile), spec));
  return null;
}

function violations(): string[] {
  const found: string[] = [];
  for (const [layer, banned] of Object.entries(FORBIDDEN)) {
    for (const file of sourceFiles(layer).filter((f) => f !== SELF)) {
      for (const spec of importSpecifiers(fs.readFileSync(path.join(ROOT, file), "utf8"))) {
        const target = resolveSpecifier(file, spec);
        if (!target) continue;
        const top = target.split("/")[0];
        if (banned.includes(top)) found.push(`${file} -> ${target.replace(/\.(ts|tsx|mjs|js)$/, "")}`);
      }
    }
  }
  return [...new Set(found)].sort();
}

describe("import graph", () => {
  it("reads static, dynamic, type-only and re-export imports", () => {
    const src = [
      'import { a } from "@/worker/x";',
      'import type { B } from "../app/y";',
      'export { c } from "./z";',
      'const m = await import("../../scripts/w.mjs");',
      'import "side-effect";',
    ].join("\n");
    expect(importSpecifiers(src)).toEqual(["@/worker/x", "../app/y", "./z", "../../scripts/w.mjs", "side-effect"]);
    expect(resolveSpecifier("lib/queue/a.ts", "../../scripts/w.mjs")).toBe("scripts/w.mjs");
    expect(resolveSpecifier("lib/queue/a.ts", "zod")).toBeNull();
  });

  it("has no lib -> worker/app/scripts and no app -> worker import", () => {
    expect(violations(), "move the shared code into lib/ (contracts, helpers) or lib/test-support/ (test helpers)").toEqual([]);
  }, 120_000); // reads every source file: seconds on a loaded 2-core machine
});
