// Sessions on a real, migrated SQLite database, with an injected clock.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDb, type TempDb } from "@/lib/test-support/test-db";
import { SESSION_COOKIE } from "@/lib/auth";
import { createSessions } from "./sessions";

let t = 1_000_000;
let database: TempDb;
beforeAll(async () => {
  database = await tempDb("tuneboard-sessions-");
});
afterAll(async () => database?.cleanup());

const TOKEN = "correct-horse-battery-staple-42";
const make = (token = TOKEN) =>
  createSessions({ token, db: database.client, now: () => t, policy: { maxAgeMs: 10_000, idleMs: 4_000, touchEveryMs: 1_000 } });
const header = (value: string) => `other=1; ${SESSION_COOKIE}=${value}`;

describe("sessions", () => {
  it("a login gives a cookie that verifies; the table holds only its hash", async () => {
    const s = make();
    const value = await s.login("127.0.0.1");
    expect(await s.verify(header(value))).toBe(true);
    const rows = await database.client.session.findMany();
    expect(rows.some((r) => value.includes(r.idHash))).toBe(false);
  });

  it("refuses malformed, forged and foreign-key cookies without throwing", async () => {
    const s = make();
    const value = await s.login("127.0.0.1");
    for (const bad of ["%", "%E0%A4%A", "", ".", "abc", `${value}x`, `x${value}`, value.split(".")[0], "a".repeat(5000)]) {
      expect(await s.verify(header(bad)), bad.slice(0, 20)).toBe(false);
    }
    expect(await s.verify(undefined)).toBe(false);
    // Signed with another token (TUNEBOARD_TOKEN changed): refused.
    expect(await make("another-token-0123456789-XYZ").verify(header(value))).toBe(false);
  });

  it("expires after the idle timeout and after the absolute lifetime, however active", async () => {
    const s = make();
    const idle = await s.login("a");
    t += 4_000;
    expect(await s.verify(header(idle))).toBe(false);

    const busy = await s.login("a");
    for (let i = 0; i < 9; i++) {
      t += 1_000;
      expect(await s.verify(header(busy))).toBe(true); // each request refreshes the idle clock
    }
    t += 1_000;
    expect(await s.verify(header(busy))).toBe(false); // 10 s after login
  });

  it("logout revokes; a new login rotates the browser's previous session", async () => {
    const s = make();
    const first = await s.login("a");
    const second = await s.login("a", header(first));
    expect(second).not.toBe(first);
    expect(await s.verify(header(first))).toBe(false);
    expect(await s.verify(header(second))).toBe(true);
    await s.logout(header(second));
    expect(await s.verify(header(second))).toBe(false);
  });
});
