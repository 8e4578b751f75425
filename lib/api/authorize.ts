// Who may call /v1: a valid API key (Authorization: Bearer tb-…), or, when the user turned on
// "local API without key", any request whose TCP peer is loopback. The dashboard's login
// (TUNEBOARD_TOKEN) does not apply here; keys do. The peer address is the socket's, never a
// header (X-Forwarded-For can be forged).
import { isLoopback } from "@/lib/env";
import type { Db } from "@/lib/db";
import { invalidKey } from "./errors";
import { verifyApiKey } from "./keys";
import { getLocalApiWithoutKey } from "./settings";

export function isLoopbackPeer(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  return isLoopback(v4);
}

export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m ? m[1] : null;
}

/** Resolves when the request may use the API; throws a 401 OpenAIError otherwise. */
export async function authorizeApiRequest(authorization: string | undefined, peer: string | undefined, db: Db): Promise<void> {
  if (isLoopbackPeer(peer) && (await getLocalApiWithoutKey(db))) return;
  const key = bearerToken(authorization);
  if (!key) {
    throw invalidKey(
      "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'; create one on Tuneboard's Settings page.",
    );
  }
  if (!(await verifyApiKey(key, db))) throw invalidKey("Incorrect API key provided. Keys are listed (and revoked) on Tuneboard's Settings page.");
}
