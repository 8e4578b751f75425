import { describe, expect, it } from "vitest";
import { loadEnv } from "./env";

describe("loadEnv", () => {
  it("defaults to loopback on port 3000 with no token", () => {
    const e = loadEnv({});
    expect(e.HOST).toBe("127.0.0.1");
    expect(e.PORT).toBe(3000);
    expect(e.serverUrl).toBe("http://127.0.0.1:3000");
  });
  it("refuses a non-loopback address without an access token", () => {
    expect(() => loadEnv({ HOST: "0.0.0.0" })).toThrow(/TUNEBOARD_TOKEN/);
    expect(() => loadEnv({ HOST: "192.168.1.5" })).toThrow(/not a loopback address/);
  });
  it("accepts a non-loopback address with a long enough token", () => {
    expect(loadEnv({ HOST: "0.0.0.0", TUNEBOARD_TOKEN: "x".repeat(16) }).HOST).toBe("0.0.0.0");
    expect(() => loadEnv({ HOST: "0.0.0.0", TUNEBOARD_TOKEN: "short" })).toThrow(/at least 16/);
  });
  it("names a bad port", () => {
    expect(() => loadEnv({ PORT: "http" })).toThrow(/PORT/);
  });
});
