// `npm ci` stays quiet on the Node version the README promises: every locked package supports
// the minimum in package.json `engines` (npm prints EBADENGINE otherwise), except the packages
// the README names as unavoidable, and every package with an install script is either allowed
// or denied in `allowScripts` (npm 11 warns about the ones not covered).
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const semver = createRequire(import.meta.url)("semver") as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};

type LockedPackage = { version?: string; engines?: { node?: string }; hasInstallScript?: boolean; optional?: boolean };
const readJson = (file: string) => JSON.parse(fs.readFileSync(path.join(ROOT, file), "utf8"));
const pkg = readJson("package.json") as { engines: { node: string }; allowScripts?: Record<string, boolean> };
const lock = readJson("package-lock.json") as { packages: Record<string, LockedPackage> };
const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

// Prisma's CLI pins @prisma/dev, which pins this package (used only by `prisma dev`, never by
// Tuneboard); no published version supports Node 20. The README states it.
const UNAVOIDABLE = ["@prisma/streams-local"];

const nameOf = (key: string) => key.slice(key.lastIndexOf("node_modules/") + "node_modules/".length);
const locked = Object.entries(lock.packages).filter(([key]) => key.startsWith("node_modules/"));

it("every locked package supports the minimum Node version of package.json", () => {
  const minimum = semver.minVersion(pkg.engines.node)!.version;
  const unsupported = locked
    .filter(([key, p]) => p.engines?.node && !UNAVOIDABLE.includes(nameOf(key)))
    .filter(([, p]) => !semver.satisfies(minimum, p.engines!.node!))
    .map(([key, p]) => `${nameOf(key)}@${p.version} wants node ${p.engines!.node}`);
  expect(unsupported).toEqual([]);
});

it("the README states the same minimum and names the unavoidable engine warning", () => {
  const minimum = pkg.engines.node.replace(/^>=\s*/, "");
  expect(readme).toContain(`Node.js ≥ ${minimum}`);
  for (const name of UNAVOIDABLE) expect(readme).toContain(name);
});

it("allowScripts decides every install script", () => {
  const policy = pkg.allowScripts ?? {};
  const undecided = locked
    .filter(([, p]) => p.hasInstallScript && !p.optional)
    .map(([key]) => nameOf(key))
    .filter((name) => !(name in policy));
  expect(undecided).toEqual([]);
});
