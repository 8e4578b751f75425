// One HTTP server for Next.js and socket.io (the pattern of socket.io's Next.js example).
// Binds to 127.0.0.1 unless HOST says otherwise; beyond loopback a login with TUNEBOARD_TOKEN
// is required for every page, API route and socket.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import next from "next";
import { env } from "./lib/env";
import { attachRealtime } from "./lib/realtime/server";
import { SESSION_COOKIE, isAuthorizedCookieHeader, isValidToken, sessionValue } from "./lib/auth";
import { setRealtime } from "./lib/realtime/registry";
import { readWorkerToken } from "./lib/worker-token";
import { isApiPath, serveApi } from "./lib/api/serve";

let config;
try {
  config = env();
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
const dev = process.argv.includes("--dev");
const app = next({ dev, hostname: config.HOST, port: config.PORT, dir: config.root });
const handle = app.getRequestHandler();

const LOGIN_PAGE = (error?: string) => `<!doctype html><html><head><meta charset="utf-8"><title>Tuneboard · Log in</title>
<style>body{font-family:system-ui,sans-serif;display:grid;place-items:center;height:100vh;margin:0;background:#f8fafc}
form{background:#fff;padding:2rem;border-radius:.75rem;box-shadow:0 1px 3px #0002;display:grid;gap:.75rem;width:20rem}
input,button{padding:.5rem;font-size:1rem}button{background:#4f46e5;color:#fff;border:0;border-radius:.375rem}
p{color:#b91c1c;margin:0}</style></head><body><form method="post" action="/login"><h1>Tuneboard</h1>
<label for="token">Access token</label><input id="token" name="token" type="password" autocomplete="current-password" required>
${error ? `<p role="alert">${error}</p>` : ""}<button type="submit">Log in</button></form></body></html>`;

async function readBody(req: IncomingMessage, limit = 4096): Promise<string> {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) throw new Error("body too large");
  }
  return body;
}

async function guard(req: IncomingMessage, res: ServerResponse, token: string): Promise<boolean> {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (url.pathname === "/login") {
    if (req.method === "POST") {
      const candidate = new URLSearchParams(await readBody(req)).get("token") ?? "";
      if (isValidToken(candidate, token)) {
        res.writeHead(303, {
          "Set-Cookie": `${SESSION_COOKIE}=${sessionValue(token)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=2592000`,
          Location: "/",
        });
      } else {
        res.writeHead(401, { "Content-Type": "text/html; charset=utf-8" }).write(LOGIN_PAGE("Wrong token."));
      }
      res.end();
      return false;
    }
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(LOGIN_PAGE());
    return false;
  }
  if (isAuthorizedCookieHeader(req.headers.cookie, token)) return true;
  if (req.method === "GET" && !url.pathname.startsWith("/api/")) {
    res.writeHead(303, { Location: "/login" }).end();
  } else {
    res.writeHead(401, { "Content-Type": "application/json" }).end(JSON.stringify({ error: "login required" }));
  }
  return false;
}

await app.prepare();
const accessToken = config.TUNEBOARD_TOKEN;
const httpServer = createServer(async (req, res) => {
  try {
    // socket.io handles its own path (and checks the cookie in its middleware).
    if (req.url?.startsWith("/socket.io/")) return;
    // /v1/*: the OpenAI-compatible API, authorised by API keys (lib/api), not the dashboard login.
    if (isApiPath(req.url)) return await serveApi(req, res);
    // /api/worker/*: worker file transfer (remote workers); those routes check the worker token themselves.
    // (WHATWG URL parsing resolves "..", "%2e%2e" included, so "/api/worker/../x" is not let through.)
    const workerApi = new URL(req.url ?? "/", "http://localhost").pathname.startsWith("/api/worker/");
    if (accessToken && !workerApi && !(await guard(req, res, accessToken))) return;
    await handle(req, res);
  } catch (err) {
    console.error(err);
    if (!res.headersSent) res.writeHead(500).end("internal error");
  }
});
const realtime = attachRealtime(httpServer, { workerToken: readWorkerToken(config), accessToken });
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
