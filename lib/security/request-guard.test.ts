import { describe, expect, it } from "vitest";
import { checkRequest, isAllowedHost, normalizeHost, type GuardConfig } from "./request-guard";

const local: GuardConfig = { port: 3000, publicOrigins: [], acceptIpHosts: false };
const lan: GuardConfig = { port: 3000, publicOrigins: ["https://tuneboard.example.com"], acceptIpHosts: true };

const post = (headers: Record<string, string>, url = "/api/runs") => ({ method: "POST", url, headers: { host: "127.0.0.1:3000", ...headers } });

describe("Host allow-list (DNS rebinding)", () => {
  it("accepts loopback names with our port only", () => {
    for (const h of ["127.0.0.1:3000", "localhost:3000", "LOCALHOST:3000", "[::1]:3000", "127.1.2.3:3000", "localhost.:3000"]) {
      expect(isAllowedHost(h, local), h).toBe(true);
    }
    for (const h of ["127.0.0.1:3001", "127.0.0.1", "attacker.example:3000", "127.0.0.1.nip.io:3000", "127.evil.example:3000", "", "user@127.0.0.1:3000", "127.0.0.1:3000/x", "192.168.1.5:3000"]) {
      expect(isAllowedHost(h, local), h).toBe(false);
    }
    expect(isAllowedHost(undefined, local)).toBe(false);
  });
  it("beyond loopback: IP literals with our port and the public origins, never other names", () => {
    expect(isAllowedHost("192.168.1.5:3000", lan)).toBe(true);
    expect(isAllowedHost("[fe80::1]:3000", lan)).toBe(true);
    expect(isAllowedHost("tuneboard.example.com", lan)).toBe(true);
    expect(isAllowedHost("tuneboard.example.com:3000", lan)).toBe(false);
    expect(isAllowedHost("attacker.example:3000", lan)).toBe(false);
  });
  it("refuses a foreign Host on every method, GET included", () => {
    const v = checkRequest({ method: "GET", url: "/runs", headers: { host: "attacker.example:3000" } }, local);
    expect(v).toMatchObject({ ok: false, status: 403 });
  });
  it("normalizes hosts and rejects garbage", () => {
    expect(normalizeHost("LocalHost:3000")).toEqual({ host: "localhost:3000", hostname: "localhost", port: 3000 });
    expect(normalizeHost("a b")).toBeNull();
    expect(normalizeHost("x".repeat(400))).toBeNull();
  });
});

describe("cross-site rules", () => {
  it("lets programs through: no Origin, no Sec-Fetch-Site", () => {
    expect(checkRequest(post({ "content-type": "application/json", "content-length": "2" }), local).ok).toBe(true);
  });
  it("accepts same-origin and user-initiated browser requests", () => {
    expect(checkRequest(post({ origin: "http://127.0.0.1:3000", "sec-fetch-site": "same-origin", "content-type": "application/json", "content-length": "2" }), local).ok).toBe(true);
    expect(checkRequest(post({ "sec-fetch-site": "none" }, "/train"), local).ok).toBe(true);
    expect(checkRequest(post({ origin: "https://tuneboard.example.com" }, "/train"), lan).ok).toBe(true);
  });
  it("refuses cross-site and same-site (other port) requests that change state", () => {
    for (const site of ["cross-site", "same-site"]) {
      expect(checkRequest(post({ "sec-fetch-site": site }, "/train"), local), site).toMatchObject({ ok: false, status: 403 });
    }
    for (const origin of ["http://127.0.0.1:3399", "http://localhost:3000", "null", "https://127.0.0.1:3000.evil", "file://", "garbage"]) {
      expect(checkRequest(post({ origin }, "/train"), local), origin).toMatchObject({ ok: false, status: 403 });
    }
  });
  it("leaves safe methods alone unless told the request changes state (socket handshakes)", () => {
    const get = { method: "GET", url: "/socket.io/?EIO=4", headers: { host: "127.0.0.1:3000", origin: "http://localhost:3399", "sec-fetch-site": "cross-site" } };
    expect(checkRequest(get, local).ok).toBe(true);
    expect(checkRequest(get, local, { stateChanging: true })).toMatchObject({ ok: false, status: 403 });
  });
  it("JSON routes take application/json only; uploads and worker routes keep their types", () => {
    expect(checkRequest(post({ "content-type": "text/plain", "content-length": "2" }), local)).toMatchObject({ ok: false, status: 415 });
    expect(checkRequest(post({ "content-length": "2" }), local)).toMatchObject({ ok: false, status: 415 });
    expect(checkRequest(post({ "content-type": "application/json; charset=utf-8", "content-length": "2" }), local).ok).toBe(true);
    expect(checkRequest(post({ "content-type": "text/plain", "content-length": "2" }, "/v1/chat/completions"), local).ok).toBe(false);
    expect(checkRequest(post({ "content-type": "multipart/form-data; boundary=x", "content-length": "9" }, "/api/datasets/import"), local).ok).toBe(true);
    expect(checkRequest(post({ "content-type": "application/octet-stream", "transfer-encoding": "chunked" }, "/api/worker/jobs/1/artifacts/a"), local).ok).toBe(true);
    // A bodiless POST (cancel) needs no type.
    expect(checkRequest(post({}, "/api/jobs/1/cancel"), local).ok).toBe(true);
  });
});
