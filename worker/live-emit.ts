// Live events from the worker to the server. While the server is down socket.io-client buffers
// emits and sends them on reconnect. The database is the record (a browser re-subscribing reads
// the whole history from it), so the buffer only smooths short outages: past `maxBuffered`
// events the oldest are dropped, and a server that stays away for hours cannot grow the
// worker's memory without bound. Emitting never blocks and never throws.
import type { Socket } from "socket.io-client";
import { DEFAULT_MAX_BUFFERED_EVENTS } from "@/lib/env";
import type { ServerToWorkerEvents, WorkerToServerEvents } from "@/lib/schemas/socket";

export type WorkerSocket = Socket<ServerToWorkerEvents, WorkerToServerEvents>;
export type LiveEmit = <E extends keyof WorkerToServerEvents>(event: E, msg: Parameters<WorkerToServerEvents[E]>[0]) => void;

export function liveEmitter(socket: WorkerSocket, maxBuffered = DEFAULT_MAX_BUFFERED_EVENTS): LiveEmit {
  return (event, msg) => {
    if (!socket.connected && socket.sendBuffer.length >= maxBuffered) {
      socket.sendBuffer.splice(0, socket.sendBuffer.length - maxBuffered + 1);
    }
    try {
      (socket.emit as (e: string, m: unknown) => void)(event, msg);
    } catch {
      // A payload socket.io cannot encode is a live event lost, not a failed run.
    }
  };
}
