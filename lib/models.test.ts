import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { SUPPORTED_ARCHITECTURES } from "./models";

describe("supported architectures", () => {
  it("are the trainer's (submit-time check == what the trainer loads)", () => {
    const src = fs.readFileSync(new URL("../worker/trainer/tuneboard_trainer/model.py", import.meta.url), "utf8");
    const m = /SUPPORTED_ARCHITECTURES\s*=\s*\(([^)]*)\)/.exec(src);
    expect(m).not.toBeNull();
    const python = [...m![1].matchAll(/"([A-Za-z0-9]+)"/g)].map((x) => x[1]);
    expect([...SUPPORTED_ARCHITECTURES].sort()).toEqual(python.sort());
  });
});
