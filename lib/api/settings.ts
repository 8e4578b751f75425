// The API's stored settings. "Local API without key": requests from loopback may call /v1 without
// a key. Off by default; only honoured for loopback peers (lib/api/authorize.ts).
import { z } from "zod";
import { db as defaultDb, type Db } from "@/lib/db";

export const LOCAL_WITHOUT_KEY = "api.localWithoutKey";
const booleanValue = z.boolean();

export async function getLocalApiWithoutKey(db: Db = defaultDb()): Promise<boolean> {
  const row = await db.setting.findUnique({ where: { key: LOCAL_WITHOUT_KEY } });
  if (!row) return false;
  try {
    const parsed = booleanValue.safeParse(JSON.parse(row.value));
    return parsed.success && parsed.data;
  } catch {
    return false; // a hand-edited, unreadable value must not open the API
  }
}

export async function setLocalApiWithoutKey(on: boolean, db: Db = defaultDb()): Promise<void> {
  const value = JSON.stringify(booleanValue.parse(on));
  await db.setting.upsert({ where: { key: LOCAL_WITHOUT_KEY }, create: { key: LOCAL_WITHOUT_KEY, value }, update: { value } });
}
