// Contract test, TypeScript side: every line of the shared fixture parses (the Python side runs
// the same fixture in worker/trainer/tests/test_events.py).
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { parseTrainerLine, trainerEvent } from "./trainer-events";

const fixture = fs.readFileSync(new URL("./fixtures/trainer-events.jsonl", import.meta.url), "utf8").trim().split("\n");

describe("trainer event protocol v1", () => {
  it("parses every fixture line", () => {
    const types = fixture.map((line) => {
      const r = parseTrainerLine(line);
      expect(r && "event" in r, line).toBe(true);
      return r && "event" in r ? r.event.type : null;
    });
    expect(new Set(types)).toEqual(new Set(["started", "log", "step", "checkpoint", "eval", "done", "error", "progress", "result"]));
  });
  it("treats non-JSON lines as log text and names what is wrong in a malformed event", () => {
    expect(parseTrainerLine("Loading weights…")).toBeNull();
    const bad = parseTrainerLine(JSON.stringify({ v: 1, type: "step", time: 1, step: "one" }));
    expect(bad && "error" in bad && bad.error).toMatch(/step/);
    expect(parseTrainerLine(JSON.stringify({ v: 2, type: "log", time: 1, level: "info", message: "x" }))).toHaveProperty("error");
  });
  it("accepts a diverged step (loss null)", () => {
    const step = JSON.parse(fixture.find((l) => l.includes('"type":"step"'))!);
    expect(trainerEvent.safeParse({ ...step, loss: null }).success).toBe(true);
  });
});
