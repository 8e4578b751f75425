// OpenAI-compatible API requests in flight (lib/api): each is sent to one worker as `api:chat`, and
// that worker's `api:token` / `api:done` events for its request id come back here, to the one HTTP
// response waiting for them (never to the Chat page's room). A worker that goes away ends its
// requests with an error.
import { randomBytes } from "node:crypto";
import type { ApiChatReq, ChatDone } from "@/lib/schemas/socket";

export interface ApiStreamHandlers {
  onToken: (text: string) => void;
  onDone: (done: ChatDone) => void;
}

export interface ApiWorker {
  id: string;
  send: (req: ApiChatReq) => void;
  stop: (requestId: string) => void;
}

/** At most this many API requests wait or run at once; more are answered 429. */
export const MAX_API_REQUESTS = 64;

export class ApiStreams {
  private streams = new Map<string, { workerId: string; handlers: ApiStreamHandlers; worker: ApiWorker }>();

  get size(): number {
    return this.streams.size;
  }

  /** Sends a request to `worker`; returns its id and a cancel function (stops the generation). */
  start(worker: ApiWorker, req: Omit<ApiChatReq, "requestId">, handlers: ApiStreamHandlers) {
    const requestId = `api-${randomBytes(12).toString("hex")}`;
    this.streams.set(requestId, { workerId: worker.id, handlers, worker });
    worker.send({ ...req, requestId });
    return {
      requestId,
      /** The client went away: stop generating and forget the request. */
      cancel: () => {
        if (this.streams.delete(requestId)) worker.stop(requestId);
      },
      /** Stop generating (a stop string was reached); the request's `done` still arrives. */
      stop: () => {
        if (this.streams.has(requestId)) worker.stop(requestId);
      },
    };
  }

  token(workerId: string, requestId: string, text: string) {
    const s = this.streams.get(requestId);
    if (s && s.workerId === workerId) s.handlers.onToken(text);
  }

  done(workerId: string, done: ChatDone) {
    const s = this.streams.get(done.requestId);
    if (!s || s.workerId !== workerId) return;
    this.streams.delete(done.requestId);
    s.handlers.onDone(done);
  }

  workerGone(workerId: string) {
    for (const [requestId, s] of this.streams) {
      if (s.workerId !== workerId) continue;
      this.streams.delete(requestId);
      s.handlers.onDone({ requestId, tokens: 0, tokensPerSec: null, finishReason: "error", error: "the worker serving this request went away" });
    }
  }
}
