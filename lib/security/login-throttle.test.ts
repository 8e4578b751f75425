import { describe, expect, it } from "vitest";
import { LoginThrottle } from "./login-throttle";

describe("LoginThrottle", () => {
  it("gives five free failures a minute, then backs off exponentially", () => {
    let t = 0;
    const th = new LoginThrottle({ now: () => t });
    for (let i = 1; i <= 5; i++) {
      expect(th.check("a").ok).toBe(true);
      expect(th.fail("a")).toEqual({ failures: i, delayMs: 0 });
    }
    expect(th.fail("a").delayMs).toBe(1000);
    expect(th.check("a")).toEqual({ ok: false, retryAfterMs: 1000 });
    t += 1000;
    expect(th.check("a").ok).toBe(true);
    expect(th.fail("a").delayMs).toBe(2000);
    t += 2000;
    expect(th.fail("a").delayMs).toBe(4000);
    // Another client is not affected.
    expect(th.check("b").ok).toBe(true);
  });
  it("refuses the 51st attempt within a minute", () => {
    let t = 0;
    const th = new LoginThrottle({ now: () => t });
    let refused = 0;
    for (let i = 0; i < 51; i++) {
      t += 10; // 51 attempts in about half a second
      if (th.check("x").ok) th.fail("x");
      else refused++;
    }
    expect(th.check("x").ok).toBe(false);
    expect(refused).toBeGreaterThan(40);
  });
  it("caps the back-off, forgets after the window, and resets on success", () => {
    let t = 0;
    const th = new LoginThrottle({ now: () => t, maxDelayMs: 60_000 });
    for (let i = 0; i < 30; i++) th.fail("a");
    expect(th.check("a")).toEqual({ ok: false, retryAfterMs: 60_000 });
    t += 61_000;
    expect(th.check("a").ok).toBe(true);
    expect(th.fail("a")).toEqual({ failures: 1, delayMs: 0 });
    th.succeed("a");
    expect(th.fail("a").failures).toBe(1);
  });
  it("remembers a bounded number of clients", () => {
    const th = new LoginThrottle({ now: () => 0, freeFailures: 0, maxClients: 3 });
    for (const c of ["a", "b", "c", "d"]) th.fail(c);
    expect(th.check("a").ok).toBe(true); // evicted
    expect(th.check("d").ok).toBe(false);
  });
});
