// Property-based fuzzing of the HTTP request boundary (fast-check): whatever headers arrive, the
// request guard, the body caps and cookie parsing answer a verdict and never throw; a foreign
// Host is always refused; a browser's cross-site state change is always refused; and a random
// session cookie never logs anyone in.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkRequest, isAllowedHost, type GuardConfig } from "@/lib/security/request-guard";
import { checkBodySize, type BodyLimits } from "@/lib/security/body-limits";
import { parseCookies, SESSION_COOKIE } from "@/lib/auth";
import { createSessions } from "@/lib/security/sessions";
import { tempDb, type TempDb } from "@/lib/test-support/test-db";

const NUM_RUNS = 300;
const cfg: GuardConfig = { port: 3000, publicOrigins: ["https://tb.example.com"], acceptIpHosts: false };
const limits: BodyLimits = { defaultBytes: 1024, routes: [{ match: "/api/worker/", bytes: 4096, streams: true }] };

const hostile = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.constantFrom("", "%", "%%", "\u0000", "127.0.0.1:3000", "localhost:3000", "[::1]:3000", "attacker.example:3000", "127.0.0.1.nip.io:3000", "null", "http://127.0.0.1:3000", "http://localhost:3399", "-1", "1e9", "chunked"),
);
const method = fc.constantFrom("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "get", "post", "PROPFIND");
const pathname = fc.oneof(fc.constantFrom("/", "/api/runs", "/api/worker/jobs/1/artifacts/x", "/v1/chat/completions", "/train", "/socket.io/", "/api/datasets/import"), fc.string().map((s) => `/${s}`));
const headers = fc.record(
  {
    host: hostile,
    origin: hostile,
    "sec-fetch-site": fc.oneof(hostile, fc.constantFrom("same-origin", "same-site", "cross-site", "none")),
    "content-type": fc.oneof(hostile, fc.constantFrom("application/json", "text/plain", "multipart/form-data")),
    "content-length": hostile,
    "transfer-encoding": hostile,
    cookie: hostile,
  },
  { requiredKeys: [] },
);
const request = fc.record({ method, url: pathname, headers });

describe("request guard under fuzzing", () => {
  it("never throws; answers ok or a 4xx with a reason", () => {
    fc.assert(
      fc.property(request, fc.boolean(), (req, stateChanging) => {
        const v = checkRequest(req, cfg, { stateChanging });
        if (!v.ok) {
          expect(v.status).toBeGreaterThanOrEqual(400);
          expect(v.status).toBeLessThan(500);
          expect(v.reason.length).toBeGreaterThan(0);
          expect(v.reason.length).toBeLessThan(300);
        }
        const b = checkBodySize(req.url, req.headers, limits);
        if (!b.ok) expect([400, 411, 413]).toContain(b.status);
        expect(() => parseCookies(req.headers.cookie)).not.toThrow();
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("a Host that is not ours is refused whatever else the request says (DNS rebinding)", () => {
    fc.assert(
      fc.property(request, (req) => {
        if (isAllowedHost(req.headers.host, cfg)) return;
        expect(checkRequest(req, cfg)).toMatchObject({ ok: false, status: 403 });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("a browser's cross-site or same-site state change is refused, whatever else it carries", () => {
    fc.assert(
      fc.property(request, fc.constantFrom("cross-site", "same-site"), fc.constantFrom("127.0.0.1:3000", "localhost:3000"), (req, site, host) => {
        const v = checkRequest({ ...req, method: "POST", headers: { ...req.headers, host, "sec-fetch-site": site } }, cfg);
        expect(v.ok).toBe(false);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("an Origin other than the requested host or a public origin is refused on state changes", () => {
    fc.assert(
      fc.property(fc.webUrl(), (origin) => {
        const own = ["http://127.0.0.1:3000", "https://127.0.0.1:3000", "https://tb.example.com"];
        const o = new URL(origin).origin;
        const v = checkRequest({ method: "POST", url: "/train", headers: { host: "127.0.0.1:3000", origin: o } }, cfg);
        expect(v.ok).toBe(own.includes(o));
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("session cookies under fuzzing", () => {
  let database: TempDb;
  beforeAll(async () => {
    database = await tempDb("tuneboard-fuzz-sessions-");
  });
  afterAll(async () => database?.cleanup());

  it("a random or mangled cookie never verifies and never throws", async () => {
    const sessions = createSessions({ token: "correct-horse-battery-staple-42", db: database.client });
    const real = await sessions.login("127.0.0.1");
    const mangled = fc.oneof(
      hostile,
      fc.tuple(fc.nat(real.length - 1), fc.string({ minLength: 1, maxLength: 3 })).map(([i, s]) => real.slice(0, i) + s + real.slice(i + 1)),
    );
    await fc.assert(
      fc.asyncProperty(mangled, async (value) => {
        fc.pre(value !== real);
        expect(await sessions.verify(`${SESSION_COOKIE}=${value}`)).toBe(false);
      }),
      { numRuns: 150 },
    );
    expect(await sessions.verify(`${SESSION_COOKIE}=${real}`)).toBe(true);
  });
});
