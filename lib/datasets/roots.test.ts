import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DatasetError } from "./errors";
import { resolveInside } from "./roots";
import { createTempData, type TempData } from "../test-support/temp-data";

let tmp: TempData;
beforeEach(async () => {
  tmp = await createTempData();
});
afterEach(async () => {
  await tmp.cleanup();
});

async function expectOutside(relative: string) {
  const err = await resolveInside(tmp.dataDir, relative).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DatasetError);
  expect((err as DatasetError).code).toBe("outside_root");
}

describe("resolveInside", () => {
  it("resolves a file inside the root", async () => {
    expect(await resolveInside(tmp.dataDir, "identity.json")).toBe(path.join(tmp.dataDir, "identity.json"));
  });

  it("resolves a file that does not exist yet, and an inner '..' that stays inside", async () => {
    expect(await resolveInside(tmp.dataDir, "new_set.json")).toBe(path.join(tmp.dataDir, "new_set.json"));
    expect(await resolveInside(tmp.dataDir, "sub/../identity.json")).toBe(path.join(tmp.dataDir, "identity.json"));
  });

  it("accepts names that merely start with two dots", async () => {
    expect(await resolveInside(tmp.dataDir, "..notes.json")).toBe(path.join(tmp.dataDir, "..notes.json"));
  });

  it("refuses parent-directory escapes", async () => {
    await expectOutside("../x");
    await expectOutside("..");
    await expectOutside("a/../../x");
    await expectOutside("../data/../../etc/passwd");
  });

  it("refuses absolute paths", async () => {
    await expectOutside("/etc/passwd");
    await expectOutside(path.join(tmp.dataDir, "identity.json")); // absolute even though inside
    await expectOutside("C:\\Windows\\win.ini");
  });

  it("refuses empty paths and NUL bytes", async () => {
    await expectOutside("");
    await expectOutside("identity.json\0.txt");
  });

  it("refuses a symlinked file pointing outside the root", async () => {
    await writeFile(path.join(tmp.base, "secret.json"), "[]");
    await symlink(path.join(tmp.base, "secret.json"), path.join(tmp.dataDir, "leak.json"));
    await expectOutside("leak.json");
  });

  it("refuses a symlinked directory pointing outside, even for a file not yet created", async () => {
    await mkdir(path.join(tmp.base, "elsewhere"));
    await symlink(path.join(tmp.base, "elsewhere"), path.join(tmp.dataDir, "out"));
    await expectOutside("out/new.json");
  });

  it("refuses a dangling symlink (writing through it would create a file outside)", async () => {
    await symlink(path.join(tmp.base, "not-yet.json"), path.join(tmp.dataDir, "dangling.json"));
    await expectOutside("dangling.json");
  });

  it("allows a symlink that stays inside the root", async () => {
    await symlink(path.join(tmp.dataDir, "identity.json"), path.join(tmp.dataDir, "alias.json"));
    expect(await resolveInside(tmp.dataDir, "alias.json")).toBe(path.join(tmp.dataDir, "identity.json"));
  });

  it("reports a missing root as not_found", async () => {
    const err = await resolveInside(path.join(tmp.base, "nope"), "x.json").catch((e: unknown) => e);
    expect((err as DatasetError).code).toBe("not_found");
  });
});
