// API keys for the OpenAI-compatible API (/v1). A key is 32 random bytes (base64url) behind the
// prefix "tb-"; only its sha256 is stored, so a key is shown once, at creation. A 256-bit random
// key needs no slow hash: nobody can guess it from its sha256.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { db as defaultDb, type Db } from "@/lib/db";

export const KEY_PREFIX = "tb-";
/** Characters of the key shown in the list ("tb-" and 8 more). */
export const SHOWN_PREFIX_LENGTH = KEY_PREFIX.length + 8;

export const apiKeyName = z
  .string()
  .trim()
  .min(1, "name the key (e.g. the program that will use it)")
  .max(100, "the key's name must be at most 100 characters");

export interface ApiKeyRow {
  id: number;
  name: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString("base64url");
}

/** Creates a key; the returned `key` is the only time the whole key exists outside its owner. */
export async function createApiKey(name: string, db: Db = defaultDb()): Promise<{ key: string; row: ApiKeyRow }> {
  const key = generateKey();
  const row = await db.apiKey.create({
    data: { name: apiKeyName.parse(name), prefix: key.slice(0, SHOWN_PREFIX_LENGTH), hash: hashKey(key) },
    select: { id: true, name: true, prefix: true, createdAt: true, lastUsedAt: true },
  });
  return { key, row };
}

/** Keys not revoked, newest first (prefix only). */
export async function listApiKeys(db: Db = defaultDb()): Promise<ApiKeyRow[]> {
  return db.apiKey.findMany({
    where: { revokedAt: null },
    orderBy: { id: "desc" },
    select: { id: true, name: true, prefix: true, createdAt: true, lastUsedAt: true },
  });
}

/** Revokes a key; false when there is no such (unrevoked) key. */
export async function revokeApiKey(id: number, db: Db = defaultDb()): Promise<boolean> {
  const res = await db.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
  return res.count === 1;
}

/**
 * The key's row when `key` is a valid, unrevoked key (and records its use), else null. The lookup
 * is by hash, so the database never compares secrets; the constant-time compare below guards
 * against a lookup that matched on anything but the full hash.
 */
export async function verifyApiKey(key: string, db: Db = defaultDb()): Promise<ApiKeyRow | null> {
  if (!key.startsWith(KEY_PREFIX) || key.length > 200) return null;
  const hash = hashKey(key);
  const row = await db.apiKey.findUnique({ where: { hash } });
  if (!row || row.revokedAt) return null;
  if (!timingSafeEqual(Buffer.from(row.hash, "hex"), Buffer.from(hash, "hex"))) return null;
  const lastUsedAt = new Date();
  await db.apiKey.update({ where: { id: row.id }, data: { lastUsedAt } });
  return { id: row.id, name: row.name, prefix: row.prefix, createdAt: row.createdAt, lastUsedAt };
}
