// The OpenAI-compatible API on the dashboard's own HTTP server (server.ts hands every /v1/ request
// here, before Next.js): GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions (JSON or
// server-sent events). Keys are checked first, then the body, then the model; every error is
// OpenAI's JSON error shape with OpenAI's status code.
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomBytes } from "node:crypto";
import type { Db } from "@/lib/db";
import type { ApiChatReq, ChatDone } from "@/lib/schemas/socket";
import type { ApiStreamHandlers } from "@/lib/realtime/api-streams";
import { authorizeApiRequest } from "./authorize";
import { chatCompletionRequest, generationFor, messagesForChat, paramName, stopStrings, type ChatCompletionRequest } from "./chat-request";
import { chunkObject, completionObject, sse, usageChunk, usageOf, type FinishReason } from "./completion-format";
import { OpenAIError, invalidRequest, modelNotFound, noCapacity, tooManyRequests } from "./errors";
import { listApiModels, modelObject, type ApiModel } from "./models";
import { StopMatcher } from "./stop-matcher";

export type ApiChatStart = (
  req: Omit<ApiChatReq, "requestId">,
  handlers: ApiStreamHandlers,
) => { error: "no-worker" | "busy" } | { requestId: string; cancel: () => void; stop: () => void };

export interface ApiDeps {
  db: Db;
  modelRoots: string[];
  runsDir: string;
  /** The realtime hub's apiChat, or undefined while the server has none (answered 503). */
  apiChat: ApiChatStart | undefined;
}

const MAX_BODY_BYTES = 4 * 2 ** 20;

function sendJson(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" }).end(JSON.stringify(body));
}

function sendError(res: ServerResponse, err: OpenAIError) {
  sendJson(res, err.status, err.body());
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new OpenAIError(413, `The request body is larger than ${MAX_BODY_BYTES} bytes.`, "invalid_request_error");
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw invalidRequest("We could not parse the JSON body of your request. (HINT: send a JSON object with 'model' and 'messages'.)");
  }
}

export function parseChatRequest(body: unknown): ChatCompletionRequest {
  const parsed = chatCompletionRequest.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const param = paramName(issue.path);
  const message = issue.message.startsWith(param) ? issue.message : `${param || "body"}: ${issue.message}`;
  throw invalidRequest(message, param || null);
}

/** An error the chat process reported for one request, as OpenAI would answer it. */
function generationError(message: string): OpenAIError {
  if (/holds at most/.test(message)) return invalidRequest(message, "messages", "context_length_exceeded");
  if (/went away|shutting down|unloaded/.test(message)) return noCapacity(message);
  return new OpenAIError(500, message, "server_error");
}

const finishOf = (done: ChatDone): FinishReason => (done.finishReason === "length" ? "length" : "stop");

async function chatCompletions(req: IncomingMessage, res: ServerResponse, deps: ApiDeps) {
  const body = parseChatRequest(await readJson(req));
  const models = await listApiModels({ modelRoots: deps.modelRoots, runsDir: deps.runsDir }, deps.db);
  const model: ApiModel | undefined = models.find((m) => m.id === body.model);
  if (!model) throw modelNotFound(body.model);
  if (!deps.apiChat) throw noCapacity("The server's realtime hub is not running.");

  const id = `chatcmpl-${randomBytes(12).toString("hex")}`;
  const created = Math.floor(Date.now() / 1000);
  const stops = new StopMatcher(stopStrings(body));
  const withUsage = body.stream_options?.include_usage === true;
  let text = "";
  let finished = false;
  let stopGeneration = () => {};

  const write = (piece: string) => {
    if (!piece) return;
    if (body.stream) res.write(sse(chunkObject(id, created, body.model, { content: piece }, null, withUsage)));
    else text += piece;
  };
  const handlers: ApiStreamHandlers = {
    onToken: (piece) => {
      const before = stops.stopped;
      write(stops.push(piece));
      // A stop string: end the generation; its `done` still comes (with the token count).
      if (!before && stops.stopped) stopGeneration();
    },
    onDone: (done) => {
      finished = true;
      if (done.finishReason === "error") {
        const err = generationError(done.error ?? "the generation failed");
        if (body.stream) return void res.end(sse(err.body()));
        return sendError(res, err);
      }
      write(stops.flush());
      const usage = usageOf(done.promptTokens ?? 0, done.tokens);
      const finish = finishOf(done);
      if (!body.stream) return sendJson(res, 200, completionObject(id, created, body.model, text, finish, usage));
      res.write(sse(chunkObject(id, created, body.model, {}, finish, withUsage)));
      if (withUsage) res.write(sse(usageChunk(id, created, body.model, usage)));
      res.end(sse("[DONE]"));
    },
  };
  const stream = deps.apiChat(
    { modelPath: model.modelPath, adapterPaths: model.adapterPath ? [model.adapterPath] : [], template: model.template, messages: messagesForChat(body), params: generationFor(body) },
    handlers,
  );
  if ("error" in stream) {
    throw stream.error === "busy"
      ? tooManyRequests("Too many API requests are waiting; try again shortly.")
      : noCapacity("No worker is connected to serve the model: start one with `npm run worker`.");
  }
  const { cancel } = stream;
  stopGeneration = stream.stop;
  res.on("close", () => {
    if (!finished) cancel(); // the client went away: stop generating for nobody
  });
  if (body.stream) {
    res.writeHead(200, { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", Connection: "keep-alive", "X-Accel-Buffering": "no" });
    res.write(sse(chunkObject(id, created, body.model, { role: "assistant", content: "" }, null, withUsage)));
  }
}

export async function handleApiRequest(req: IncomingMessage, res: ServerResponse, deps: ApiDeps): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  try {
    await authorizeApiRequest(req.headers.authorization, req.socket.remoteAddress, deps.db);
    if (url.pathname === "/v1/models" || url.pathname.startsWith("/v1/models/")) {
      if (req.method !== "GET") throw new OpenAIError(405, `Method ${req.method} is not allowed on ${url.pathname}.`, "invalid_request_error");
      const models = await listApiModels({ modelRoots: deps.modelRoots, runsDir: deps.runsDir }, deps.db);
      if (url.pathname === "/v1/models") return sendJson(res, 200, { object: "list", data: models.map(modelObject) });
      const wanted = decodeURIComponent(url.pathname.slice("/v1/models/".length));
      const found = models.find((m) => m.id === wanted);
      if (!found) throw modelNotFound(wanted);
      return sendJson(res, 200, modelObject(found));
    }
    if (url.pathname === "/v1/chat/completions") {
      if (req.method !== "POST") throw new OpenAIError(405, `Use POST for ${url.pathname}.`, "invalid_request_error");
      return await chatCompletions(req, res, deps);
    }
    throw new OpenAIError(404, `Unknown request URL: ${req.method} ${url.pathname}. This server offers GET /v1/models and POST /v1/chat/completions.`, "invalid_request_error", null, "unknown_url");
  } catch (err) {
    const e = err instanceof OpenAIError ? err : new OpenAIError(500, `internal error: ${(err as Error).message}`, "server_error");
    if (!res.headersSent) sendError(res, e);
    else res.end(sse(e.body()));
  }
}
