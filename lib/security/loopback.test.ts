import { describe, expect, it } from "vitest";
import { isLoopbackAddress, isLoopbackHostName, resolvesToLoopback } from "./loopback";

describe("loopback decisions", () => {
  it("judges address literals, not text prefixes", () => {
    for (const a of ["127.0.0.1", "127.255.0.9", "::1", "[::1]", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"]) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ["127.not-a-loopback.invalid", "127.0.0.1.nip.io", "0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "localhost"]) expect(isLoopbackAddress(a), a).toBe(false);
    expect(isLoopbackHostName("localhost")).toBe(true);
    expect(isLoopbackHostName("127.evil.example")).toBe(false);
  });
  it("resolves names: loopback only when every address is", async () => {
    expect(await resolvesToLoopback("127.not-a-loopback.invalid")).toBe(false);
    expect(await resolvesToLoopback("localhost")).toBe(true);
    expect(await resolvesToLoopback("0.0.0.0")).toBe(false);
    expect(await resolvesToLoopback("dual.test", async () => ["127.0.0.1", "192.168.1.5"])).toBe(false);
    expect(await resolvesToLoopback("me.test", async () => ["127.0.1.1", "::1"])).toBe(true);
    expect(await resolvesToLoopback("none.test", async () => [])).toBe(false);
  });
});
