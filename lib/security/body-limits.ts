// Request body caps, checked on the headers before a byte of the body is read (server.ts).
// A body without Content-Length (chunked) is refused except on routes that count the bytes
// themselves while streaming (the worker upload route stops at its chunk size).
import type { IncomingHttpHeaders } from "node:http";
import type { Verdict } from "./request-guard";

export interface BodyLimit {
  /** pathname prefix or pattern */
  match: string | RegExp;
  bytes: number;
  /** the route counts streamed bytes itself, so a chunked body is allowed */
  streams?: boolean;
}

export interface BodyLimits {
  defaultBytes: number;
  routes: BodyLimit[];
}

export function limitFor(pathname: string, limits: BodyLimits): { bytes: number; streams: boolean } {
  const hit = limits.routes.find((r) => (typeof r.match === "string" ? pathname.startsWith(r.match) : r.match.test(pathname)));
  return { bytes: hit?.bytes ?? limits.defaultBytes, streams: hit?.streams ?? false };
}

export function checkBodySize(pathname: string, headers: IncomingHttpHeaders, limits: BodyLimits): Verdict {
  const { bytes, streams } = limitFor(pathname, limits);
  const rawLength = headers["content-length"];
  if (rawLength === undefined) {
    if (headers["transfer-encoding"] !== undefined && !streams) {
      return { ok: false, status: 411, reason: "a request body needs a Content-Length" };
    }
    return { ok: true };
  }
  const length = /^\d{1,15}$/.test(rawLength) ? Number(rawLength) : NaN;
  if (!Number.isSafeInteger(length)) return { ok: false, status: 400, reason: "bad Content-Length" };
  if (length > bytes) return { ok: false, status: 413, reason: `request body too large (at most ${bytes} bytes here)` };
  return { ok: true };
}
