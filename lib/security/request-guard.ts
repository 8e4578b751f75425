// The rules every HTTP request and socket.io handshake passes before Next.js or socket.io see it
// (server.ts). They stop other web pages from driving Tuneboard through the user's own browser:
//
// - DNS rebinding: the Host header must name this server (a loopback name with our port, a
//   configured public origin, or, when listening beyond loopback, an IP literal, which a
//   rebinding attacker's page cannot have as its origin).
// - Cross-site requests: a state-changing request a browser marks as cross-site or same-site
//   (another port) is refused, so is one whose Origin is not this server. Requests with neither
//   Origin nor Sec-Fetch-Site come from programs (curl, workers, API clients), not from pages.
// - JSON routes take `Content-Type: application/json` only (a form or a no-cors fetch cannot send it).
import net from "node:net";
import type { IncomingHttpHeaders } from "node:http";
import { isLoopbackHostName } from "./loopback";

export interface GuardConfig {
  /** the port the server listens on */
  port: number;
  /** origins the server is reached at through a proxy, e.g. "https://tuneboard.example.com" */
  publicOrigins: string[];
  /** accept any IP-literal Host (the server listens beyond loopback, behind its access token) */
  acceptIpHosts: boolean;
}

export interface GuardRequest {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
}

export type Verdict = { ok: true } | { ok: false; status: number; reason: string };

const OK: Verdict = { ok: true };
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
// Routes whose bodies are not JSON: worker file transfers (octet-stream) and dataset uploads (multipart).
const NON_JSON_PREFIXES = ["/api/worker/", "/api/datasets/import"];

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** "host[:port]" lower-cased, or null when the value is not a plain host (userinfo, path, garbage). */
export function normalizeHost(value: string | undefined): { host: string; hostname: string; port: number } | null {
  if (!value || value.length > 300 || /[\s/\\@?#]/.test(value)) return null;
  let url: URL;
  try {
    url = new URL(`http://${value}`);
  } catch {
    return null;
  }
  if (url.username || url.password || url.pathname !== "/") return null;
  return { host: url.host, hostname: url.hostname, port: url.port ? Number(url.port) : 80 };
}

function originHost(origin: string): string | null {
  try {
    const url = new URL(origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return url.host;
  } catch {
    return null;
  }
}

/** Whether the Host header names this server. */
export function isAllowedHost(hostHeader: string | undefined, cfg: GuardConfig): boolean {
  const h = normalizeHost(hostHeader);
  if (!h) return false;
  if (cfg.publicOrigins.some((o) => originHost(o) === h.host)) return true;
  if (h.port !== cfg.port) return false;
  if (isLoopbackHostName(h.hostname)) return true;
  return cfg.acceptIpHosts && net.isIP(h.hostname.replace(/^\[(.*)\]$/, "$1")) !== 0;
}

/** Whether a browser's Origin is this server: the host it asked for (already allowed), or a public origin. */
export function isOwnOrigin(origin: string, hostHeader: string | undefined, cfg: GuardConfig): boolean {
  const host = originHost(origin);
  if (!host) return false; // "null" (sandboxed frames, opaque redirects) and other schemes
  if (cfg.publicOrigins.some((o) => originHost(o) === host)) return true;
  return host === normalizeHost(hostHeader)?.host;
}

function isJsonRoute(pathname: string): boolean {
  if (NON_JSON_PREFIXES.some((p) => pathname.startsWith(p))) return false;
  return pathname.startsWith("/api/") || pathname.startsWith("/v1/");
}

const hasBody = (headers: IncomingHttpHeaders) =>
  headers["transfer-encoding"] !== undefined || Number(header(headers, "content-length") ?? 0) > 0;

function pathnameOf(url: string | undefined): string {
  try {
    return new URL(url ?? "/", "http://localhost").pathname;
  } catch {
    return "/";
  }
}

/**
 * The verdict on one request. `stateChanging` defaults to "not GET/HEAD/OPTIONS"; the socket.io
 * handshake passes true, since a socket carries commands whatever its first request's method.
 */
export function checkRequest(req: GuardRequest, cfg: GuardConfig, opts: { stateChanging?: boolean } = {}): Verdict {
  const host = header(req.headers, "host");
  if (!isAllowedHost(host, cfg)) {
    return { ok: false, status: 403, reason: `host "${String(host ?? "").slice(0, 100)}" is not an address of this server` };
  }
  const method = (req.method ?? "GET").toUpperCase();
  if (!(opts.stateChanging ?? !SAFE_METHODS.has(method))) return OK;

  const site = header(req.headers, "sec-fetch-site");
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    return { ok: false, status: 403, reason: `cross-site request refused (Sec-Fetch-Site: ${site.slice(0, 40)})` };
  }
  const origin = header(req.headers, "origin");
  if (origin !== undefined && !isOwnOrigin(origin, host, cfg)) {
    return { ok: false, status: 403, reason: `cross-origin request refused (Origin: ${origin.slice(0, 100)})` };
  }
  if (isJsonRoute(pathnameOf(req.url)) && hasBody(req.headers)) {
    const type = (header(req.headers, "content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/json") return { ok: false, status: 415, reason: "this route takes Content-Type: application/json" };
  }
  return OK;
}
