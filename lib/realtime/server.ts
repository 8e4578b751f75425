// socket.io on the same HTTP server as Next. Browsers join a job's room to get its live
// metrics; workers connect to "/worker" with their token and push events, which are validated
// here and relayed to the rooms. Chat commands go the other way: browser -> server -> worker.
import type { Server as HttpServer } from "node:http";
import { timingSafeEqual, createHash } from "node:crypto";
import { Server, type Socket } from "socket.io";
import {
  type ApiChatReq,
  chatDone,
  chatLoadReq,
  chatSendReq,
  chatState,
  chatStopReq,
  chatToken,
  jobId as jobIdSchema,
  jobEvalMsg,
  jobLogMsg,
  jobMetricMsg,
  jobStatusUpdate,
  type ChatState,
  type ClientToServerEvents,
  type ServerToClientEvents,
  type ServerToWorkerEvents,
  type WorkerToServerEvents,
} from "@/lib/schemas/socket";
import { loadJobSnapshot } from "@/lib/jobs/snapshot";
import { z } from "zod";
import type { IncomingMessage } from "node:http";
import { ApiStreams, MAX_API_REQUESTS, type ApiStreamHandlers } from "./api-streams";

export const jobRoom = (id: number) => `job:${id}`;
const CHAT_ROOM = "chat";

export function tokensEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

type WorkerSocket = Socket<WorkerToServerEvents, ServerToWorkerEvents>;

export interface RealtimeOptions {
  workerToken: string;
  /** every handshake request (polling and websocket) must pass this (server.ts: the request guard) */
  allowRequest?: (req: IncomingMessage) => { ok: true } | { ok: false; reason: string };
  /** token mode: whether the browser's cookie holds a live session */
  isLoggedIn?: (cookieHeader: string | undefined) => Promise<boolean>;
  log?: (msg: string) => void;
}

type BrowserIo = Server<ClientToServerEvents, ServerToClientEvents>;
type BrowserSocket = Socket<ClientToServerEvents, ServerToClientEvents>;
type Log = (msg: string) => void;

/** What the worker and browser handlers share: the connected workers and the one chat model's state. */
interface Hub {
  io: BrowserIo;
  workers: Map<string, WorkerSocket>;
  apiStreams: ApiStreams;
  chat: () => ChatState;
  setChat: (next: ChatState) => void;
  /** The worker holding the chat model, else any connected one. */
  pickWorker: () => WorkerSocket | undefined;
  log: Log;
}

const IDLE_CHAT: ChatState = { workerId: null, state: "idle", modelPath: null, adapterPath: null, message: null, loadS: null };

function createIo(httpServer: HttpServer, opts: RealtimeOptions, log: Log): BrowserIo {
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(httpServer, {
    serveClient: false,
    maxHttpBufferSize: 1_000_000,
    // Metric events are small JSON; compressing each copy of a broadcast per client costs CPU
    // and latency (scripts/bench-fanout.ts, docs/reliability.md). This is socket.io's default;
    // stated here so nobody turns it on by accident.
    perMessageDeflate: false,
    allowRequest: (req, callback) => {
      const verdict = opts.allowRequest ? opts.allowRequest(req) : { ok: true as const };
      if (verdict.ok) callback(null, true);
      else {
        log(`[realtime] handshake refused: ${verdict.reason}`);
        callback(verdict.reason, false);
      }
    },
  });
  // Token mode: the browser must have logged in (cookie set by /login). Workers use their token ("/worker").
  if (opts.isLoggedIn) {
    const isLoggedIn = opts.isLoggedIn;
    io.use((socket, next) => {
      isLoggedIn(socket.handshake.headers.cookie).then(
        (ok) => next(ok ? undefined : new Error("unauthorized")),
        () => next(new Error("unauthorized")),
      );
    });
  }
  return io;
}

/** Workers connect to "/worker" with their token; their events are validated, then relayed. */
function attachWorkers(hub: Hub, workerToken: string) {
  const { io, workers, apiStreams, log } = hub;
  const workerNs = io.of("/worker") as unknown as import("socket.io").Namespace<WorkerToServerEvents, ServerToWorkerEvents>;
  workerNs.use((socket, next) => {
    const auth = z.object({ token: z.string(), workerId: z.string().min(1).max(100) }).safeParse(socket.handshake.auth);
    if (!auth.success || !tokensEqual(auth.data.token, workerToken)) return next(new Error("unauthorized"));
    socket.data.workerId = auth.data.workerId;
    next();
  });
  workerNs.on("connection", (socket) => {
    const workerId: string = socket.data.workerId;
    workers.set(workerId, socket);
    log(`[realtime] worker ${workerId} connected`);

    // Relay with validation: a malformed payload is dropped and logged, never forwarded.
    const relay = <T extends z.ZodTypeAny>(schema: T, fn: (msg: z.infer<T>) => void) => (raw: unknown) => {
      const parsed = schema.safeParse(raw);
      if (!parsed.success) return log(`[realtime] dropped malformed event from ${workerId}: ${parsed.error.message}`);
      fn(parsed.data);
    };
    socket.on("job:metric", relay(jobMetricMsg, (m) => io.to(jobRoom(m.jobId)).emit("job:metric", m)));
    socket.on("job:eval", relay(jobEvalMsg, (m) => io.to(jobRoom(m.jobId)).emit("job:eval", m)));
    socket.on("job:status", relay(jobStatusUpdate, (m) => io.to(jobRoom(m.jobId)).emit("job:status", m)));
    socket.on("job:log", relay(jobLogMsg, (m) => io.to(jobRoom(m.jobId)).emit("job:log", m)));
    socket.on("chat:state", relay(chatState, (m) => hub.setChat({ ...m, workerId })));
    socket.on("chat:token", relay(chatToken, (m) => io.to(CHAT_ROOM).emit("chat:token", m)));
    socket.on("chat:done", relay(chatDone, (m) => io.to(CHAT_ROOM).emit("chat:done", m)));
    socket.on("api:token", relay(chatToken, (m) => apiStreams.token(workerId, m.requestId, m.text)));
    socket.on("api:done", relay(chatDone, (m) => apiStreams.done(workerId, m)));
    socket.on("disconnect", () => {
      workers.delete(workerId);
      apiStreams.workerGone(workerId);
      log(`[realtime] worker ${workerId} disconnected`);
      const chat = hub.chat();
      if (chat.workerId === workerId) {
        hub.setChat({ ...chat, state: "error", message: "the worker holding the model went away" });
      }
    });
  });
}

/** A browser follows a run: join its room, get its whole history in the acknowledgement. */
function attachJobHandlers(socket: BrowserSocket, log: Log) {
  socket.on("job:subscribe", async (raw, ack) => {
    const parsed = z.object({ jobId: jobIdSchema }).safeParse(raw);
    if (!parsed.success) return ack?.({ ok: false, error: "jobId must be a positive integer" });
    // Join first, then read the history: an event that lands in between is sent twice and the
    // client de-duplicates by step, so nothing falls into a gap.
    await socket.join(jobRoom(parsed.data.jobId));
    let snapshot: Awaited<ReturnType<typeof loadJobSnapshot>>;
    try {
      snapshot = await loadJobSnapshot(parsed.data.jobId);
    } catch (err) {
      // A database error (e.g. busy past its timeout) must answer this browser, not crash the
      // server through an unhandled rejection; the Run page subscribes again on its next connect.
      log(`[realtime] job:subscribe ${parsed.data.jobId}: could not read the run: ${(err as Error).message}`);
      return ack?.({ ok: false, error: "could not read the run's history from the database; reload the page to try again" });
    }
    if (!snapshot) return ack?.({ ok: false, error: `run ${parsed.data.jobId} does not exist` });
    ack?.({ ok: true, data: snapshot });
  });
  socket.on("job:unsubscribe", (raw) => {
    const parsed = z.object({ jobId: jobIdSchema }).safeParse(raw);
    if (parsed.success) void socket.leave(jobRoom(parsed.data.jobId));
  });
}

/** The Chat page's commands, validated here and forwarded to the worker that holds the model. */
function attachChatHandlers(socket: BrowserSocket, hub: Hub) {
  const holder = () => {
    const id = hub.chat().workerId;
    return id ? hub.workers.get(id) : undefined;
  };
  socket.on("chat:subscribe", async (_raw, ack) => {
    await socket.join(CHAT_ROOM);
    ack?.({ ok: true, data: hub.chat() });
  });
  socket.on("chat:load", (raw, ack) => {
    const parsed = chatLoadReq.safeParse(raw);
    if (!parsed.success) return ack?.({ ok: false, error: parsed.error.issues[0]?.message ?? "bad request" });
    const worker = hub.pickWorker();
    if (!worker) return ack?.({ ok: false, error: "no worker is connected: start one with `npm run worker`" });
    if (hub.chat().state === "loading") return ack?.({ ok: false, error: "a model is already loading" });
    hub.setChat({
      workerId: worker.data.workerId,
      state: "loading",
      modelPath: parsed.data.modelPath,
      adapterPath: parsed.data.adapterPaths[0] ?? null,
      adapterPaths: parsed.data.adapterPaths,
      message: null,
      loadS: null,
    });
    worker.emit("chat:load", parsed.data);
    ack?.({ ok: true, data: hub.chat() });
  });
  socket.on("chat:send", (raw, ack) => {
    const parsed = chatSendReq.safeParse(raw);
    if (!parsed.success) return ack?.({ ok: false, error: parsed.error.issues[0]?.message ?? "bad request" });
    const worker = holder();
    if (!worker || hub.chat().state !== "ready") return ack?.({ ok: false, error: "load a model first" });
    worker.emit("chat:send", parsed.data);
    ack?.({ ok: true, data: null });
  });
  socket.on("chat:stop", (raw) => {
    const parsed = chatStopReq.safeParse(raw);
    const worker = holder();
    if (parsed.success && worker) worker.emit("chat:stop", parsed.data);
  });
  socket.on("chat:unload", (_raw, ack) => {
    holder()?.emit("chat:unload", {});
    hub.setChat(IDLE_CHAT);
    ack?.({ ok: true, data: hub.chat() });
  });
}

export function attachRealtime(httpServer: HttpServer, opts: RealtimeOptions) {
  const log = opts.log ?? ((m: string) => console.log(m));
  const io = createIo(httpServer, opts, log);
  const workers = new Map<string, WorkerSocket>();
  const apiStreams = new ApiStreams();
  let chat: ChatState = IDLE_CHAT;
  const hub: Hub = {
    io,
    workers,
    apiStreams,
    log,
    chat: () => chat,
    setChat: (next) => {
      chat = next;
      io.to(CHAT_ROOM).emit("chat:state", chat);
    },
    pickWorker: () => (chat.workerId && workers.has(chat.workerId) ? workers.get(chat.workerId) : workers.values().next().value),
  };
  attachWorkers(hub, opts.workerToken);
  io.on("connection", (socket) => {
    attachJobHandlers(socket, log);
    attachChatHandlers(socket, hub);
  });

  return {
    io,
    connectedWorkers: () => [...workers.keys()],
    /**
     * Serves one OpenAI-compatible API request on the worker that holds the chat model (else any
     * connected worker). Answers `{ error: "no-worker" | "busy" }` when it cannot take the request.
     */
    apiChat: (req: Omit<ApiChatReq, "requestId">, handlers: ApiStreamHandlers) => {
      const worker = hub.pickWorker();
      if (!worker) return { error: "no-worker" as const };
      if (apiStreams.size >= MAX_API_REQUESTS) return { error: "busy" as const };
      const id: string = worker.data.workerId;
      return apiStreams.start(
        { id, send: (r) => worker.emit("api:chat", r), stop: (requestId) => worker.emit("chat:stop", { requestId }) },
        req,
        handlers,
      );
    },
    cancelJob: (id: number) => {
      for (const w of workers.values()) w.emit("job:cancel", { jobId: id });
    },
  };
}
