// One HTTP server for Next.js and socket.io (the pattern of socket.io's Next.js example).
// Binds to 127.0.0.1 unless HOST says otherwise; beyond loopback a login with TUNEBOARD_TOKEN
// is required for every page, API route and socket. Every request, with or without a token,
// first passes the request guard (Host allow-list, cross-site rules, JSON content type) and the
// body caps, here at the one entry point, before Next.js or socket.io read anything
// (docs/security.md).
import { createServer, type IncomingMessage } from "node:http";
import next from "next";
import { env } from "./lib/env";
import { db } from "./lib/db";
import { attachRealtime } from "./lib/realtime/server";
import { setRealtime } from "./lib/realtime/registry";
import { readWorkerToken } from "./lib/worker-token";
import { IMPORT_MAX_BYTES } from "./lib/datasets/import";
import { checkRequest, normalizeHost, type GuardConfig, type Verdict } from "./lib/security/request-guard";
import { checkBodySize, type BodyLimits } from "./lib/security/body-limits";
import { resolvesToLoopback } from "./lib/security/loopback";
import { LoginThrottle } from "./lib/security/login-throttle";
import { createSessions } from "./lib/security/sessions";
import { createLoginGate } from "./lib/security/login";
import { securityHeaders } from "./lib/security/headers";
import { UPLOAD_CHUNK_BYTES } from "./lib/remote/protocol";
import { isApiPath, serveApi } from "./lib/api/serve";

let config;
try {
  config = env();
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
const accessToken = config.TUNEBOARD_TOKEN;
// The loopback decision on the addresses HOST resolves to ("127.x.example" is a name, not loopback).
const loopback = await resolvesToLoopback(config.HOST);
if (!loopback && !accessToken) {
  console.error(`Invalid configuration:\n  TUNEBOARD_TOKEN: HOST=${config.HOST} does not resolve to loopback addresses only: set TUNEBOARD_TOKEN (16+ characters) to allow remote access`);
  process.exit(1);
}

const dev = process.argv.includes("--dev");
const app = next({ dev, hostname: config.HOST, port: config.PORT, dir: config.root });
const handle = app.getRequestHandler();

const guardConfig: GuardConfig = { port: config.PORT, publicOrigins: config.TUNEBOARD_PUBLIC_ORIGIN, acceptIpHosts: !loopback };
const bodyLimits: BodyLimits = {
  defaultBytes: 2 * 1024 * 1024,
  routes: [
    { match: /^\/api\/worker\/jobs\/[^/]+\/artifacts\//, bytes: UPLOAD_CHUNK_BYTES, streams: true },
    { match: "/api/datasets/import", bytes: IMPORT_MAX_BYTES + 64 * 1024 },
  ],
};
const headers = securityHeaders(dev);

/** HTTPS as the browser sees it: a proxy says so, or the Host is an https public origin. */
const isHttps = (req: IncomingMessage) => {
  if (req.headers["x-forwarded-proto"] === "https") return true;
  const host = normalizeHost(req.headers.host)?.host;
  return config.TUNEBOARD_PUBLIC_ORIGIN.some((o) => o.startsWith("https://") && new URL(o).host === host);
};

const sessions = accessToken ? createSessions({ token: accessToken, db: db() }) : null;
const gate = sessions ? createLoginGate({ token: accessToken!, sessions, throttle: new LoginThrottle(), isHttps }) : null;

const refuse = (res: import("node:http").ServerResponse, verdict: Exclude<Verdict, { ok: true }>) =>
  // Connection: close, so an unread body is dropped with the connection instead of being read.
  res.writeHead(verdict.status, { "Content-Type": "application/json", Connection: "close" }).end(JSON.stringify({ error: verdict.reason }));

await app.prepare();
const httpServer = createServer(async (req, res) => {
  try {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    const verdict = checkRequest(req, guardConfig);
    if (!verdict.ok) return refuse(res, verdict);
    // (WHATWG URL parsing resolves "..", "%2e%2e" included, so "/api/worker/../x" is not let through.)
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    const size = checkBodySize(pathname, req.headers, bodyLimits);
    if (!size.ok) return refuse(res, size);
    // /api/worker/*: worker file transfer (remote workers); those routes check the worker token themselves.
    // /v1/*: the OpenAI-compatible API, authorised by API keys (lib/api), not the dashboard login.
    if (isApiPath(req.url)) return await serveApi(req, res);
    const workerApi = pathname.startsWith("/api/worker/");
    if (gate && !workerApi && !(await gate(req, res, pathname))) return;
    await handle(req, res);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) res.writeHead(500).end("internal error");
  }
});
const realtime = attachRealtime(httpServer, {
  workerToken: readWorkerToken(config),
  // Every handshake request (polling or websocket) passes the same rules as a state-changing request.
  allowRequest: (req) => checkRequest(req, guardConfig, { stateChanging: true }),
  isLoggedIn: sessions ? (cookie) => sessions.verify(cookie) : undefined,
});
setRealtime(realtime);

httpServer.listen(config.PORT, config.HOST, () => {
  const shown = config.HOST.includes(":") ? `[${config.HOST}]` : config.HOST;
  console.log(`Tuneboard ready on http://${shown}:${config.PORT}${accessToken ? " (login required)" : ""}`);
});

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    realtime.io.close();
    httpServer.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  });
}
