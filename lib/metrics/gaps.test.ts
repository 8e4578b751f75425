import { describe, expect, it } from "vitest";
import { lastSpacing, leavesGap } from "./gaps";

describe("leavesGap", () => {
  it("the next logged step is no gap; one further on is", () => {
    expect(leavesGap(10, 5, 15)).toBe(false);
    expect(leavesGap(10, 5, 20)).toBe(true);
    expect(leavesGap(3, 1, 4)).toBe(false);
    expect(leavesGap(3, 1, 6)).toBe(true);
  });
  it("re-logged steps after a resume and the first points are never gaps", () => {
    expect(leavesGap(12, 1, 7)).toBe(false);
    expect(leavesGap(0, null, 5)).toBe(false);
    expect(leavesGap(5, null, 50)).toBe(false);
  });
  it("spacing of the newest two steps", () => {
    expect(lastSpacing([])).toBe(null);
    expect(lastSpacing([5])).toBe(null);
    expect(lastSpacing([5, 10, 15])).toBe(5);
  });
});
