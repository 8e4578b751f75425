import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SUPPORTED_ARCHITECTURES } from "./models";

describe("supported architectures", () => {
  it("are the trainer's (submit-time check == what the trainer loads)", () => {
    // The trainer's list is generated from this one (npm run gen:contracts); ask the trainer itself.
    const r = spawnSync(path.resolve(".venv/bin/python"), ["-c", "import json; from tuneboard_trainer.model import SUPPORTED_ARCHITECTURES as A; print(json.dumps(list(A)))"], {
      env: { ...process.env, PYTHONPATH: path.resolve("worker/trainer") },
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    expect([...SUPPORTED_ARCHITECTURES].sort()).toEqual((JSON.parse(r.stdout) as string[]).sort());
  });

});
