// Functions of a screen or two: no function, method or arrow function outside tests and test
// support is longer than MAX_LINES (the trainer's Python has the same rule in test_code_shape.py).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MAX_LINES = 120;
const SKIP_DIRS = new Set(["node_modules", "generated", ".next", "test-support", "trainer"]);

function sources(rel: string): string[] {
  const full = path.join(ROOT, rel);
  if (!fs.statSync(full).isDirectory()) return [rel];
  return fs.readdirSync(full, { withFileTypes: true }).flatMap((e) => {
    const child = `${rel}/${e.name}`;
    if (e.isDirectory()) return SKIP_DIRS.has(e.name) ? [] : sources(child);
    return /\.(ts|tsx|mjs)$/.test(e.name) && !/\.(test|spec)\.tsx?$/.test(e.name) && !e.name.endsWith(".d.ts") ? [child] : [];
  });
}

function longFunctions(rel: string): string[] {
  const sf = ts.createSourceFile(rel, fs.readFileSync(path.join(ROOT, rel), "utf8"), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (end - start + 1 > MAX_LINES) found.push(`${rel}:${start + 1} (${end - start + 1} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

it(`no function outside tests is longer than ${MAX_LINES} lines`, () => {
  const files = ["app", "components", "lib", "worker", "scripts", "prisma", "server.ts"].flatMap(sources);
  expect(files.length).toBeGreaterThan(100);
  expect(files.flatMap(longFunctions)).toEqual([]);
}, 120_000); // parses every source file with the TypeScript compiler: seconds on a loaded 2-core machine
