// Test support: the worker transfer routes (app/api/worker/**) served by a bare node:http server,
// without building Next.js: each request becomes a web Request, goes to the route's handler
// with its params, and the Response is written back. Same handlers, same HTTP on the wire.
import http from "node:http";
import { Readable } from "node:stream";
import type { AddressInfo } from "node:net";
import * as bundle from "@/app/api/worker/jobs/[id]/bundle/route";
import * as datasets from "@/app/api/worker/jobs/[id]/datasets/[...path]/route";
import * as artifacts from "@/app/api/worker/jobs/[id]/artifacts/[[...path]]/route";
import * as parent from "@/app/api/worker/jobs/[id]/parent/[[...path]]/route";

type Handler = (req: Request, ctx: { params: Promise<Record<string, unknown>> }) => Promise<Response>;

function route(method: string, pathname: string): { handler: Handler; params: Record<string, unknown> } | null {
  const m = /^\/api\/worker\/jobs\/([^/]+)\/(bundle|datasets|artifacts|parent)(?:\/(.*))?$/.exec(pathname);
  if (!m) return null;
  const [, id, kind, rest] = m;
  const segs = rest ? rest.split("/") : undefined;
  const mods = { bundle, datasets, artifacts, parent } as unknown as Record<string, Record<string, Handler>>;
  const mod = mods[kind];
  const handler = mod[method];
  if (!handler || (kind === "bundle" && rest) || (kind === "datasets" && !segs)) return null;
  return { handler, params: { id, ...(segs ? { path: segs } : {}) } };
}

export async function startWorkerApiServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const r = route(req.method ?? "GET", url.pathname);
      if (!r) return void res.writeHead(404).end();
      const hasBody = req.method !== "GET" && req.method !== "HEAD";
      const request = new Request(url, {
        method: req.method,
        headers: req.headers as Record<string, string>,
        body: hasBody ? (Readable.toWeb(req) as ReadableStream) : undefined,
        duplex: "half",
      } as RequestInit);
      const response = await r.handler(request, { params: Promise.resolve(r.params) });
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (response.body) for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
      res.end();
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}
