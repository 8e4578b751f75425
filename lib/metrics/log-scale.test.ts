import { describe, expect, it } from "vitest";
import { formatLogTick, positiveDomain, positiveOrNull } from "./log-scale";

describe("log-scale loss axis", () => {
  it("keeps positive finite values and turns the rest into gaps", () => {
    expect([2.5, 0, -1, null, undefined, NaN, Infinity].map(positiveOrNull)).toEqual([2.5, null, null, null, null, null, null]);
  });

  it("spans the positive values only, ignoring zeros, negatives and gaps", () => {
    expect(positiveDomain([0, 3.2, null, 0.04, -2, 1.1, NaN])).toEqual([0.04, 3.2]);
  });

  it("has no domain without a positive value, and widens a single value", () => {
    expect(positiveDomain([0, null, -1])).toBeNull();
    expect(positiveDomain([])).toBeNull();
    expect(positiveDomain([0.5, 0.5, 0])).toEqual([0.25, 1]);
  });

  it("writes ticks without float noise", () => {
    expect(formatLogTick(0.30000000000000004)).toBe("0.3");
    expect(formatLogTick(2)).toBe("2");
    expect(formatLogTick(0.0123456)).toBe("0.0123");
  });
});
