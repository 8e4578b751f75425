// Browser logins in token mode, as records in the Session table. The cookie carries
// `<random id>.<HMAC of the id keyed by the access token>`: a forged or malformed cookie is
// refused without touching the database, and changing TUNEBOARD_TOKEN invalidates every login.
// The table stores only sha256(id). A session ends at logout, after MAX_AGE, or after IDLE
// without a request; each login starts a new one (and ends the one the browser had).
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { PrismaClient } from "@/lib/generated/prisma/client";
import { SESSION_COOKIE, parseCookies } from "@/lib/auth";

export interface SessionPolicy {
  maxAgeMs: number;
  idleMs: number;
  /** lastSeenAt is written at most this often (one write per minute, not per request) */
  touchEveryMs: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = {
  maxAgeMs: 7 * 24 * 3600_000,
  idleMs: 12 * 3600_000,
  touchEveryMs: 60_000,
};

export interface SessionsOptions {
  /** the access token: the signing key */
  token: string;
  db: Pick<PrismaClient, "session">;
  now?: () => number;
  policy?: Partial<SessionPolicy>;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

export function createSessions(opts: SessionsOptions) {
  const now = opts.now ?? Date.now;
  const policy = { ...DEFAULT_SESSION_POLICY, ...opts.policy };
  const sign = (id: string) => createHmac("sha256", opts.token).update(`tuneboard-session-v2:${id}`).digest("base64url");

  /** The session id of a well-signed cookie, or null. */
  function idOf(cookieHeader: string | undefined): string | null {
    const value = parseCookies(cookieHeader)[SESSION_COOKIE];
    if (!value || value.length > 200) return null;
    const dot = value.indexOf(".");
    if (dot <= 0) return null;
    const id = value.slice(0, dot);
    const given = Buffer.from(value.slice(dot + 1));
    const want = Buffer.from(sign(id));
    return given.length === want.length && timingSafeEqual(given, want) ? id : null;
  }

  return {
    policy,

    /** A new session; answers the cookie value. `previousCookie` (the browser's old session) is ended. */
    async login(address: string, previousCookie?: string): Promise<string> {
      const old = idOf(previousCookie);
      if (old) await opts.db.session.deleteMany({ where: { idHash: sha256(old) } });
      const t = now();
      await opts.db.session.deleteMany({ where: { expiresAt: { lt: t } } });
      const id = randomBytes(32).toString("base64url");
      await opts.db.session.create({ data: { idHash: sha256(id), expiresAt: t + policy.maxAgeMs, lastSeenAt: t, address } });
      return `${id}.${sign(id)}`;
    },

    /** Whether the cookie header holds a live session; refreshes its idle clock. Never throws on bad input. */
    async verify(cookieHeader: string | undefined): Promise<boolean> {
      const id = idOf(cookieHeader);
      if (!id) return false;
      const idHash = sha256(id);
      const row = await opts.db.session.findUnique({ where: { idHash } });
      if (!row) return false;
      const t = now();
      if (t >= row.expiresAt || t - row.lastSeenAt >= policy.idleMs) {
        await opts.db.session.deleteMany({ where: { idHash } });
        return false;
      }
      if (t - row.lastSeenAt >= policy.touchEveryMs) {
        await opts.db.session.updateMany({ where: { idHash }, data: { lastSeenAt: t } });
      }
      return true;
    },

    /** Ends the cookie's session (logout). */
    async logout(cookieHeader: string | undefined): Promise<void> {
      const id = idOf(cookieHeader);
      if (id) await opts.db.session.deleteMany({ where: { idHash: sha256(id) } });
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
