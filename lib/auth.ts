// Shared pieces of access control: the session cookie's name, cookie parsing that never throws,
// and constant-time token comparison (the access token at /login, the worker token on worker routes).
// Sessions themselves: lib/security/sessions.ts; the login flow: lib/security/login.ts.
import { createHash, timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "tuneboard_session";

/** Cookie name → value. A value that is not valid percent-encoding is kept as sent (it then matches no session). */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i <= 0) continue;
    const raw = part.slice(i + 1).trim();
    let value = raw;
    try {
      value = decodeURIComponent(raw);
    } catch {
      // malformed escape such as "%": not a cookie we issued
    }
    out[part.slice(0, i).trim()] = value;
  }
  return out;
}

/** Constant-time comparison of a candidate with the real token (hashes first, so lengths do not leak). */
export function isValidToken(candidate: string, token: string): boolean {
  const a = createHash("sha256").update(candidate).digest();
  const b = createHash("sha256").update(token).digest();
  return timingSafeEqual(a, b);
}
