// The unit tier stays in-process: none of its files starts a child process, a server, the
// PostgreSQL test cluster or the worker harness. A test that needs one belongs in
// INTEGRATION_TESTS (vitest.config.ts).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { INTEGRATION_TESTS } from "@/vitest.config";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const STARTS_SOMETHING = /node:child_process|\.listen\(|test-support\/(start-server|harness|pg-test|fixture-process|worker-api-server)|\bpostgresAvailable\b/;

function testFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === "node_modules" || e.name === "generated" ? [] : testFiles(rel);
    return e.name.endsWith(".test.ts") ? [rel] : [];
  });
}

const isIntegration = (file: string) =>
  INTEGRATION_TESTS.some((p) => (p.startsWith("**/") ? file.endsWith(p.slice(p.lastIndexOf("*") + 1)) : p === file));

it("unit tests start no process and no server", () => {
  const unit = ["lib", "app", "worker"].flatMap(testFiles).filter((f) => !isIntegration(f) && f !== "lib/architecture/test-tiers.test.ts");
  expect(unit.length).toBeGreaterThan(20);
  const offending = unit.filter((f) => STARTS_SOMETHING.test(fs.readFileSync(path.join(ROOT, f), "utf8")));
  expect(offending, "list these in INTEGRATION_TESTS (vitest.config.ts)").toEqual([]);
});

it("browser specs take `test` from e2e/helpers/test.ts, which waits for hydration after each navigation", () => {
  const specs = fs.readdirSync(path.join(ROOT, "e2e")).filter((f) => f.endsWith(".spec.ts"));
  expect(specs.length).toBeGreaterThan(5);
  const direct = specs.filter((f) => /import\s*{[^}]*\btest\b[^}]*}\s*from\s*"@playwright\/test"/.test(fs.readFileSync(path.join(ROOT, "e2e", f), "utf8")));
  expect(direct, 'import { test, expect } from "./helpers/test"').toEqual([]);
});
