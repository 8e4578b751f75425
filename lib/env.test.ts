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
    expect(loadEnv({ HOST: "0.0.0.0", TUNEBOARD_TOKEN: "Zq8-wL2pX9vR4mT7" }).HOST).toBe("0.0.0.0");
    expect(() => loadEnv({ HOST: "0.0.0.0", TUNEBOARD_TOKEN: "short" })).toThrow(/at least 16/);
  });
  it("refuses weak tokens, loopback or not", () => {
    expect(() => loadEnv({ TUNEBOARD_TOKEN: " ".repeat(16) })).toThrow(/spaces/);
    expect(() => loadEnv({ HOST: "0.0.0.0", TUNEBOARD_TOKEN: "x".repeat(16) })).toThrow(/different characters/);
    expect(() => loadEnv({ TUNEBOARD_TOKEN: "abcdefghijklmnop" })).toThrow(/guessable/);
  });
  it("leaves names to the start-up resolution; a name is never loopback by its text", () => {
    // "127.not-a-loopback.invalid" is a name: server.ts resolves it (lib/security/loopback.ts) and refuses it without a token.
    expect(loadEnv({ HOST: "127.not-a-loopback.invalid" }).HOST).toBe("127.not-a-loopback.invalid");
    expect(() => loadEnv({ HOST: "[::]" })).toThrow(/TUNEBOARD_TOKEN/);
  });
  it("reads public origins and refuses URLs with paths", () => {
    expect(loadEnv({ TUNEBOARD_PUBLIC_ORIGIN: "https://tb.example.com, http://10.0.0.2:8080/" }).TUNEBOARD_PUBLIC_ORIGIN).toEqual([
      "https://tb.example.com",
      "http://10.0.0.2:8080",
    ]);
    expect(() => loadEnv({ TUNEBOARD_PUBLIC_ORIGIN: "https://tb.example.com/app" })).toThrow(/TUNEBOARD_PUBLIC_ORIGIN/);
    expect(loadEnv({}).TUNEBOARD_PUBLIC_ORIGIN).toEqual([]);
  });
  it("names a bad port", () => {
    expect(() => loadEnv({ PORT: "http" })).toThrow(/PORT/);
  });
});
