import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isInsideWithoutSymlinks } from "./no-symlinks";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-symlinks-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("isInsideWithoutSymlinks", () => {
  it("refuses any symbolic link below the root, and paths outside it", () => {
    const runs = path.join(dir, "runs");
    const outside = path.join(dir, "outside");
    fs.mkdirSync(path.join(runs, "run-1", "adapter"), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, "secret"), "x");
    fs.symlinkSync(outside, path.join(runs, "run-1", "link"));
    fs.symlinkSync(path.join(outside, "secret"), path.join(runs, "run-1", "file-link"));
    fs.symlinkSync(outside, path.join(runs, "run-2"));
    expect(isInsideWithoutSymlinks(runs, path.join(runs, "run-1", "adapter", "x.bin"))).toBe(true);
    expect(isInsideWithoutSymlinks(runs, path.join(runs, "run-1", "new", "deeper"))).toBe(true);
    expect(isInsideWithoutSymlinks(runs, path.join(runs, "run-1", "link", "secret"))).toBe(false);
    expect(isInsideWithoutSymlinks(runs, path.join(runs, "run-1", "file-link"))).toBe(false);
    expect(isInsideWithoutSymlinks(runs, path.join(runs, "run-2", "x"))).toBe(false);
    expect(isInsideWithoutSymlinks(runs, path.join(runs, "..", "outside"))).toBe(false);
    expect(isInsideWithoutSymlinks(runs, runs)).toBe(false);
  });
});
