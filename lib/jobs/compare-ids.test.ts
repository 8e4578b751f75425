import { describe, expect, it } from "vitest";
import { parseCompareIds } from "./compare-ids";

describe("parseCompareIds", () => {
  it("reads comma lists and repeated params, de-duplicated, in order", () => {
    expect(parseCompareIds("3,1")).toEqual({ ok: true, ids: [3, 1] });
    expect(parseCompareIds(["1", "2,2", "5"])).toEqual({ ok: true, ids: [1, 2, 5] });
  });
  it("refuses too few, too many and non-numbers", () => {
    expect(parseCompareIds(undefined)).toEqual({ ok: false, error: "empty", n: 0 });
    expect(parseCompareIds("1,1")).toEqual({ ok: false, error: "count", n: 1 });
    expect(parseCompareIds("1,2,3,4,5,6,7")).toEqual({ ok: false, error: "count", n: 7 });
    expect(parseCompareIds("1,x")).toMatchObject({ ok: false, error: "ids" });
    expect(parseCompareIds("1,-2")).toMatchObject({ ok: false, error: "ids" });
    expect(parseCompareIds("1,2.5")).toMatchObject({ ok: false, error: "ids" });
  });
});
