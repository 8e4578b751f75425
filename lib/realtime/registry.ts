// The socket.io hub lives in server.ts's process; route handlers in the same process reach it
// here (globalThis, because Next may load this module more than once).
import type { attachRealtime } from "./server";

type Realtime = ReturnType<typeof attachRealtime>;
const g = globalThis as unknown as { __tuneboardRealtime?: Realtime };

export function setRealtime(rt: Realtime) {
  g.__tuneboardRealtime = rt;
}
export function getRealtime(): Realtime | undefined {
  return g.__tuneboardRealtime;
}
