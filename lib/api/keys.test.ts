// API keys and the API's settings on a real, freshly migrated SQLite database in a temp folder.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateDeploy } from "@/prisma/migrate";
import { createDb, type Db } from "@/lib/db";
import { authorizeApiRequest, bearerToken, isLoopbackPeer } from "./authorize";
import { createApiKey, hashKey, listApiKeys, revokeApiKey, verifyApiKey } from "./keys";
import { getLocalApiWithoutKey, setLocalApiWithoutKey } from "./settings";
import { parseChatRequest } from "./http-handler";

let dir: string;
let db: Db;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-keys-"));
  const url = `file:${path.join(dir, "t.db")}`;
  await migrateDeploy(url, { log: () => {} });
  db = createDb(url);
});
afterAll(async () => {
  await db.$disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("API keys", () => {
  it("stores only the hash, lists the prefix, verifies, records the last use, revokes", async () => {
    const { key, row } = await createApiKey("  my script ", db);
    expect(key).toMatch(/^tb-[A-Za-z0-9_-]{43}$/);
    expect(row).toMatchObject({ name: "my script", prefix: key.slice(0, 11), lastUsedAt: null });
    const stored = await db.apiKey.findUniqueOrThrow({ where: { id: row.id } });
    expect(stored.hash).toBe(hashKey(key));
    expect(JSON.stringify(stored)).not.toContain(key.slice(11));
    expect((await listApiKeys(db)).map((k) => k.id)).toContain(row.id);

    expect(await verifyApiKey(key, db)).toMatchObject({ id: row.id });
    expect((await db.apiKey.findUniqueOrThrow({ where: { id: row.id } })).lastUsedAt).not.toBeNull();
    expect(await verifyApiKey(`${key}x`, db)).toBeNull();
    expect(await verifyApiKey("sk-something", db)).toBeNull();

    expect(await revokeApiKey(row.id, db)).toBe(true);
    expect(await revokeApiKey(row.id, db)).toBe(false);
    expect(await verifyApiKey(key, db)).toBeNull();
    expect((await listApiKeys(db)).map((k) => k.id)).not.toContain(row.id);
  });

  it("refuses an empty name", async () => {
    await expect(createApiKey("   ", db)).rejects.toThrow(/name the key/);
  });
});

describe("authorisation", () => {
  it("reads the bearer token and recognises loopback peers (IPv4-mapped too)", () => {
    expect(bearerToken("Bearer tb-abc")).toBe("tb-abc");
    expect(bearerToken("Basic xyz")).toBeNull();
    expect(isLoopbackPeer("127.0.0.1")).toBe(true);
    expect(isLoopbackPeer("::ffff:127.0.0.1")).toBe(true);
    expect(isLoopbackPeer("::1")).toBe(true);
    expect(isLoopbackPeer("::ffff:10.0.0.5")).toBe(false);
    expect(isLoopbackPeer("10.0.0.5")).toBe(false);
  });

  it("401 without a key, even on loopback, unless 'local API without key' is on, and then only for loopback", async () => {
    await expect(authorizeApiRequest(undefined, "127.0.0.1", db)).rejects.toMatchObject({ status: 401 });
    await setLocalApiWithoutKey(true, db);
    expect(await getLocalApiWithoutKey(db)).toBe(true);
    await expect(authorizeApiRequest(undefined, "127.0.0.1", db)).resolves.toBeUndefined();
    await expect(authorizeApiRequest(undefined, "192.168.1.4", db)).rejects.toMatchObject({ status: 401 });
    await setLocalApiWithoutKey(false, db);
    await expect(authorizeApiRequest(undefined, "127.0.0.1", db)).rejects.toMatchObject({ status: 401 });
    const { key } = await createApiKey("remote", db);
    await expect(authorizeApiRequest(`Bearer ${key}`, "192.168.1.4", db)).resolves.toBeUndefined();
  });

  it("an unreadable stored setting keeps the API closed", async () => {
    await db.setting.update({ where: { key: "api.localWithoutKey" }, data: { value: "yes" } });
    expect(await getLocalApiWithoutKey(db)).toBe(false);
  });
});

describe("chat completion bodies", () => {
  it("a malformed body is a 400 naming the field", () => {
    const bad = (body: unknown) => {
      try {
        parseChatRequest(body);
      } catch (e) {
        return e as { status: number; param: string | null; message: string };
      }
      throw new Error("accepted");
    };
    expect(bad({ model: "m", messages: [{ role: "user" }] })).toMatchObject({ status: 400, param: "messages[0].content" });
    expect(bad({ model: "m", messages: [{ role: "robot", content: "x" }] })).toMatchObject({ param: "messages[0].role" });
    expect(bad({ messages: [{ role: "user", content: "x" }] })).toMatchObject({ param: "model" });
    expect(bad({ model: "m", messages: [{ role: "user", content: "x" }], n: 2 })).toMatchObject({ param: "n" });
    expect(bad({ model: "m", messages: [{ role: "user", content: "x" }], max_tokens: 0 }).message).toMatch(/^max_tokens: /);
    expect(parseChatRequest({ model: "m", messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }], extra: 1 }).model).toBe("m");
  });
});
