import { describe, expect, it } from "vitest";
import { StopMatcher } from "./stop-matcher";

function run(stops: string[], pieces: string[]) {
  const m = new StopMatcher(stops);
  const sent = pieces.map((p) => m.push(p));
  return { text: sent.join("") + m.flush(), sent, stopped: m.stopped };
}

describe("StopMatcher", () => {
  it("passes text through without stop strings", () => {
    expect(run([], ["a", "b"])).toMatchObject({ text: "ab", stopped: false });
  });
  it("ends before a stop string split across pieces and never sends part of it", () => {
    const r = run(["END"], ["Hello E", "N", "D and more"]);
    expect(r.text).toBe("Hello ");
    expect(r.stopped).toBe(true);
    expect(r.sent.join("")).not.toContain("E");
  });
  it("releases held text that turned out not to be a stop string", () => {
    expect(run(["END"], ["Hello E", "ast"]).text).toBe("Hello East");
  });
  it("stops at the earliest of several stop strings", () => {
    expect(run(["b", "xyz"], ["axyzb"]).text).toBe("a");
  });
});
