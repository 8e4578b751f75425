// Access control for non-loopback deployments. The browser proves it knows TUNEBOARD_TOKEN once
// (at /login); from then on it carries an http-only cookie holding an HMAC of the token, which
// is compared in constant time. On loopback with no token set, everything is open.
import { createHmac, timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "tuneboard_session";

export function sessionValue(token: string): string {
  return createHmac("sha256", token).update("tuneboard-session-v1").digest("hex");
}

function safeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

export function isAuthorizedCookieHeader(header: string | undefined, token: string): boolean {
  const value = parseCookies(header)[SESSION_COOKIE];
  return typeof value === "string" && safeEqual(value, sessionValue(token));
}

export function isValidToken(candidate: string, token: string): boolean {
  return safeEqual(sessionValue(candidate), sessionValue(token));
}
