"use server";
// Server actions of the Settings page. Arguments come from the browser: each is parsed with zod.
import { z } from "zod";
import { apiKeyName, createApiKey, listApiKeys, revokeApiKey } from "@/lib/api/keys";
import { setLocalApiWithoutKey } from "@/lib/api/settings";
import { toKeyView, type ApiKeyView } from "@/components/settings/key-view";

export type CreateKeyResult = { ok: true; key: string; keys: ApiKeyView[] } | { ok: false; error: string };

export async function createKeyAction(name: unknown): Promise<CreateKeyResult> {
  const parsed = apiKeyName.safeParse(name);
  if (!parsed.success) return { ok: false, error: parsed.error.issues[0]?.message ?? "invalid name" };
  const { key } = await createApiKey(parsed.data);
  return { ok: true, key, keys: (await listApiKeys()).map(toKeyView) };
}

export async function revokeKeyAction(id: unknown): Promise<ApiKeyView[]> {
  const parsed = z.number().int().positive().safeParse(id);
  if (parsed.success) await revokeApiKey(parsed.data);
  return (await listApiKeys()).map(toKeyView);
}

export async function setLocalWithoutKeyAction(on: unknown): Promise<boolean> {
  const parsed = z.boolean().parse(on);
  await setLocalApiWithoutKey(parsed);
  return parsed;
}
