// A page that calls notFound() answers HTTP 404 only if nothing has streamed yet. A loading.tsx
// in its folder or any folder above it wraps the page in a Suspense boundary whose fallback is
// sent first, which commits the response to 200. So no loading.tsx may sit above such a page;
// its loading state goes in a <Suspense> inside the page, after the lookup (app/runs/[id]/page.tsx).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const NOT_FOUND_CALL = /\bnotFound\(\)/;

function pages(rel: string): string[] {
  return fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true }).flatMap((e) => {
    const child = `${rel}/${e.name}`;
    if (e.isDirectory()) return e.name === "api" ? [] : pages(child);
    return e.name === "page.tsx" ? [child] : [];
  });
}

/** loading.tsx files in the page's folder and every folder above it, up to app/. */
function loadingAbove(page: string): string[] {
  const found: string[] = [];
  for (let dir = path.dirname(page); dir === "app" || dir.startsWith("app/"); dir = path.dirname(dir)) {
    const loading = `${dir}/loading.tsx`;
    if (fs.existsSync(path.join(ROOT, loading))) found.push(loading);
  }
  return found;
}

it("no loading.tsx sits above a page that calls notFound()", () => {
  const callers = pages("app").filter((p) => NOT_FOUND_CALL.test(fs.readFileSync(path.join(ROOT, p), "utf8")));
  expect(callers).toContain("app/runs/[id]/page.tsx");
  const bad = callers.flatMap((p) => loadingAbove(p).map((l) => `${l} is above ${p}`));
  expect(bad, "move the loading state into a <Suspense> inside the page, after the lookup").toEqual([]);
});
