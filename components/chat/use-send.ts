"use client";
// Send and Stop for the Chat page. In compare mode the base side is sent once the chat process
// has accepted the fine-tuned one (it answers in order); Stop reaches every side, including a
// base side not sent yet, which then is never sent: nothing keeps streaming behind a Stop.
import { useRef, type Dispatch, type SetStateAction } from "react";
import { getSocket } from "@/lib/realtime/client";
import type { GenerationParams } from "@/lib/schemas/socket";
import { compareParams } from "@/lib/chat/compare";
import { historyFor, type Answer, type Turn } from "./store";
import { newRequestId as newId } from "./use-chat-stream";

const emitSend = (requestId: string, messages: ReturnType<typeof historyFor>, params: unknown, useAdapters: boolean) =>
  new Promise<void>((resolve, reject) =>
    getSocket().emit("chat:send", { requestId, messages, params, useAdapters }, (res) =>
      res.ok ? resolve() : reject(new Error(res.error)),
    ),
  );

export function useSend(opts: {
  turns: Turn[];
  setTurns: Dispatch<SetStateAction<Turn[]>>;
  pending: string[];
  setPending: Dispatch<SetStateAction<string[]>>;
  setError: (e: string | null) => void;
}) {
  const { turns, setTurns, pending, setPending, setError } = opts;
  const stopped = useRef(new Set<string>());

  const markStopped = (requestId: string) => {
    setTurns((ts) => ts.map((x) => (x.base?.requestId === requestId ? { ...x, base: { ...x.base, finish: "aborted" } } : x)));
    setPending((p) => p.filter((id) => id !== requestId));
  };

  /** Sends one question: to the adapters, and with `both` also to the base model. */
  const send = (text: string, system: string, params: GenerationParams, both: boolean) => {
    const tuned: Answer = { requestId: newId(), content: "" };
    const base: Answer | undefined = both ? { requestId: newId(), content: "" } : undefined;
    const sideParams = both ? compareParams(params) : params;
    const history = turns;
    setTurns((ts) => [...ts, { user: text, tuned, ...(base ? { base } : {}) }]);
    setPending([tuned.requestId, ...(base ? [base.requestId] : [])]);
    const fail = (err: Error) => {
      setError(err.message);
      setPending([]);
      setTurns((ts) => ts.filter((x) => x.tuned.requestId !== tuned.requestId));
    };
    emitSend(tuned.requestId, historyFor(history, "tuned", system, text), sideParams, true)
      .then(() => {
        if (!base) return;
        if (stopped.current.has(base.requestId)) return markStopped(base.requestId);
        return emitSend(base.requestId, historyFor(history, "base", system, text), sideParams, false);
      })
      .catch(fail);
  };

  /** Stops one answer (one side of a comparison). */
  const stopOne = (requestId: string) => {
    stopped.current.add(requestId);
    getSocket().emit("chat:stop", { requestId });
  };
  const stop = () => pending.forEach(stopOne);

  return { send, stop, stopOne };
}
