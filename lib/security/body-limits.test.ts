import { describe, expect, it } from "vitest";
import { checkBodySize, type BodyLimits } from "./body-limits";

const limits: BodyLimits = { defaultBytes: 1000, routes: [{ match: /^\/api\/worker\//, bytes: 5000, streams: true }, { match: "/api/datasets/import", bytes: 3000 }] };

describe("body caps on the headers", () => {
  it("refuses a declared length over the route's cap", () => {
    expect(checkBodySize("/api/runs", { "content-length": "1001" }, limits)).toMatchObject({ ok: false, status: 413 });
    expect(checkBodySize("/api/runs", { "content-length": "1000" }, limits).ok).toBe(true);
    expect(checkBodySize("/api/datasets/import", { "content-length": "2999" }, limits).ok).toBe(true);
    expect(checkBodySize("/api/worker/jobs/1/artifacts/x", { "content-length": "5001" }, limits)).toMatchObject({ status: 413 });
  });
  it("refuses chunked bodies except on streaming routes, and bad lengths", () => {
    expect(checkBodySize("/api/runs", { "transfer-encoding": "chunked" }, limits)).toMatchObject({ ok: false, status: 411 });
    expect(checkBodySize("/api/worker/jobs/1/artifacts/x", { "transfer-encoding": "chunked" }, limits).ok).toBe(true);
    for (const bad of ["-1", "1e3", "abc", "99999999999999999999"]) {
      expect(checkBodySize("/api/runs", { "content-length": bad }, limits).ok, bad).toBe(false);
    }
    expect(checkBodySize("/runs", {}, limits).ok).toBe(true);
  });
});
