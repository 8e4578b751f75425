// The login gate of token mode, in front of every page, API route and server action (server.ts):
// /login (throttled per client address, every failure logged), /logout, and the session check.
import type { IncomingMessage, ServerResponse } from "node:http";
import { isValidToken, parseCookies, SESSION_COOKIE } from "@/lib/auth";
import { HTML_LANG, LOCALE_COOKIE, pickLocale } from "@/lib/i18n/locales";
import { makeT, type TFunction } from "@/lib/i18n/translate";
import type { LoginThrottle } from "./login-throttle";
import type { Sessions } from "./sessions";

export interface LoginGateOptions {
  token: string;
  sessions: Sessions;
  throttle: LoginThrottle;
  /** the Secure cookie flag: the browser reaches the server over HTTPS */
  isHttps: (req: IncomingMessage) => boolean;
  log?: (line: string) => void;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (lang: string, title: string, body: string) => `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><title>Tuneboard · ${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;display:grid;place-items:center;height:100vh;margin:0;background:#f8fafc}
form{background:#fff;padding:2rem;border-radius:.75rem;box-shadow:0 1px 3px #0002;display:grid;gap:.75rem;width:20rem}
input,button{padding:.5rem;font-size:1rem}button{background:#4f46e5;color:#fff;border:0;border-radius:.375rem}
p{color:#b91c1c;margin:0}</style></head><body>${body}</body></html>`;

/** The page's language: the UI's cookie, else the browser's Accept-Language. */
function localeOf(req: IncomingMessage): { lang: string; t: TFunction } {
  const locale = pickLocale(parseCookies(req.headers.cookie)[LOCALE_COOKIE], req.headers["accept-language"]);
  return { lang: HTML_LANG[locale], t: makeT(locale) };
}

function loginPage(req: IncomingMessage, error?: string): string {
  const { lang, t } = localeOf(req);
  return page(
    lang,
    t("auth.login.title"),
    `<form method="post" action="/login"><h1>Tuneboard</h1>
<label for="token">${escapeHtml(t("auth.login.token"))}</label><input id="token" name="token" type="password" autocomplete="current-password" required>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ""}<button type="submit">${escapeHtml(t("auth.login.submit"))}</button></form>`,
  );
}

function logoutPage(req: IncomingMessage): string {
  const { lang, t } = localeOf(req);
  return page(lang, t("auth.logout.title"), `<form method="post" action="/logout"><h1>Tuneboard</h1><button type="submit">${escapeHtml(t("auth.logout.submit"))}</button></form>`);
}

async function readForm(req: IncomingMessage, limit = 4096): Promise<URLSearchParams | null> {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) return null;
  }
  return new URLSearchParams(body);
}

export function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? "unknown";
}

export function createLoginGate(opts: LoginGateOptions) {
  const log = opts.log ?? ((line: string) => console.warn(line));
  const html = (res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", ...extra }).end(body);
  };
  const cookie = (req: IncomingMessage, value: string, maxAgeS: number) =>
    `${SESSION_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeS}${opts.isHttps(req) ? "; Secure" : ""}`;

  async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const client = clientAddress(req);
    const allowed = opts.throttle.check(client);
    if (!allowed.ok) {
      const seconds = Math.ceil(allowed.retryAfterMs / 1000);
      log(`[auth] login from ${client} refused: too many wrong tokens, next try in ${seconds} s`);
      return html(res, 429, loginPage(req, localeOf(req).t("auth.login.throttled", { seconds })), { "Retry-After": String(seconds) });
    }
    const form = await readForm(req);
    if (!form) return html(res, 413, loginPage(req, localeOf(req).t("auth.login.tooLarge")));
    if (isValidToken(form.get("token") ?? "", opts.token)) {
      opts.throttle.succeed(client);
      const value = await opts.sessions.login(client, req.headers.cookie);
      log(`[auth] login from ${client}`);
      res.writeHead(303, { "Set-Cookie": cookie(req, value, Math.floor(opts.sessions.policy.maxAgeMs / 1000)), Location: "/" }).end();
      return;
    }
    const { failures, delayMs } = opts.throttle.fail(client);
    log(`[auth] wrong token from ${client} (${failures} in the last minute${delayMs ? `, next try in ${Math.ceil(delayMs / 1000)} s` : ""})`);
    html(res, 401, loginPage(req, localeOf(req).t("auth.login.wrong")));
  }

  /** Answers the request when it is the gate's or the client is not logged in; true when Next may handle it. */
  return async function gate(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
    if (pathname === "/login") {
      if (req.method === "POST") await login(req, res);
      else html(res, 200, loginPage(req));
      return false;
    }
    if (pathname === "/logout") {
      if (req.method === "POST") {
        await opts.sessions.logout(req.headers.cookie);
        res.writeHead(303, { "Set-Cookie": cookie(req, "", 0), Location: "/login" }).end();
      } else html(res, 200, logoutPage(req));
      return false;
    }
    if (await opts.sessions.verify(req.headers.cookie)) return true;
    if ((req.method === "GET" || req.method === "HEAD") && !pathname.startsWith("/api/")) {
      res.writeHead(303, { Location: "/login", "Cache-Control": "no-store" }).end();
    } else {
      res.writeHead(401, { "Content-Type": "application/json" }).end(JSON.stringify({ error: "login required" }));
    }
    return false;
  };
}
