// The trainer event protocol: every fixture event, and each of its keys dropped or given a wrong
// value, gets the same verdict and field from the worker's zod schema and from the trainer's
// loader (events.parse_event's contract, through the venv's python).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { trainerEvent } from "@/lib/schemas/trainer-events";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURE = path.join(ROOT, "lib/schemas/fixtures/trainer-events.jsonl");
type Verdict = { ok: true } | { ok: false; field: string };

const SCRIPT = `
import json, sys
from tuneboard_trainer.validation import ContractError, validate
out = []
for event in json.load(sys.stdin):
    try:
        validate("trainer_event", event)
        out.append({"ok": True})
    except ContractError as e:
        out.append({"ok": False, "field": e.field})
print(json.dumps(out))
`;

function python(events: object[]): Verdict[] {
  const r = spawnSync(path.join(ROOT, ".venv", "bin", "python"), ["-c", SCRIPT], {
    cwd: ROOT,
    input: JSON.stringify(events),
    env: { ...process.env, PYTHONPATH: path.join(ROOT, "worker", "trainer") },
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Verdict[];
}

function zod(event: object): Verdict {
  const r = trainerEvent.safeParse(event);
  return r.success ? { ok: true } : { ok: false, field: r.error.issues[0].path.join(".") };
}

describe("trainer events: zod and the Python loader agree", () => {
  it("on the fixture and on every one-key change of it", () => {
    const fixture = fs.readFileSync(FIXTURE, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
    const events: Record<string, unknown>[] = [...fixture];
    for (const e of fixture) {
      for (const key of Object.keys(e)) {
        const { [key]: _dropped, ...rest } = e;
        events.push(rest);
        for (const v of [null, "x", -1, 1.5, true, []]) events.push({ ...e, [key]: v });
      }
    }
    const got = python(events);
    const mismatches = events.flatMap((e, i) => (JSON.stringify(got[i]) === JSON.stringify(zod(e)) ? [] : [{ e, python: got[i], zod: zod(e) }]));
    expect(mismatches).toEqual([]);
    expect(events.length).toBeGreaterThan(300);
  });
});
