"use client";
// The chat room on socket.io: the model's state, streamed tokens patched into the conversation's
// answers, and identity-check questions answered out of band (resolved on their chat:done, never
// shown in the conversation).
import { useCallback, useEffect, useRef, useState, type Dispatch, type SetStateAction } from "react";
import { getSocket } from "@/lib/realtime/client";
import type { ChatState } from "@/lib/schemas/socket";
import type { Answer, Turn } from "./store";

type Done = { requestId: string; finishReason: Answer["finish"]; tokensPerSec: number | null; error?: string | null };
export const newRequestId = () => crypto.randomUUID().replace(/-/g, "").slice(0, 24);

export function useChatStream(setTurns: Dispatch<SetStateAction<Turn[]>>, setPending: Dispatch<SetStateAction<string[]>>, setError: (e: string) => void) {
  const [state, setState] = useState<ChatState | null>(null);
  const waiters = useRef(new Map<string, { text: string; resolve: (s: string) => void; reject: (e: Error) => void }>());

  useEffect(() => {
    const socket = getSocket();
    const subscribe = () => socket.emit("chat:subscribe", {}, (res) => res.ok && setState(res.data));
    const patch = (requestId: string, f: (a: Answer) => Answer) =>
      setTurns((ts) =>
        ts.map((x) =>
          x.tuned.requestId === requestId
            ? { ...x, tuned: f(x.tuned) }
            : x.base?.requestId === requestId
              ? { ...x, base: f(x.base) }
              : x,
        ),
      );
    const onToken = (m: { requestId: string; text: string }) => {
      const w = waiters.current.get(m.requestId);
      if (w) w.text += m.text;
      else patch(m.requestId, (a) => ({ ...a, content: a.content + m.text }));
    };
    const onDone = (d: Done) => {
      const w = waiters.current.get(d.requestId);
      if (w) {
        waiters.current.delete(d.requestId);
        if (d.finishReason === "error") w.reject(new Error(d.error ?? "error"));
        else w.resolve(w.text);
        return;
      }
      patch(d.requestId, (a) => ({ ...a, finish: d.finishReason, tokensPerSec: d.tokensPerSec, error: d.error ?? null }));
      setPending((p) => p.filter((id) => id !== d.requestId));
      if (d.error) setError(d.error);
    };
    socket.on("connect", subscribe);
    socket.on("chat:state", setState);
    socket.on("chat:token", onToken);
    socket.on("chat:done", onDone);
    if (socket.connected) subscribe();
    return () => {
      socket.off("connect", subscribe);
      socket.off("chat:state", setState);
      socket.off("chat:token", onToken);
      socket.off("chat:done", onDone);
    };
  }, [setTurns, setPending, setError]);

  /** One greedy answer to a single question with the adapters on (the identity check). */
  const askIdentity = useCallback(
    (question: string) =>
      new Promise<string>((resolve, reject) => {
        const requestId = newRequestId();
        waiters.current.set(requestId, { text: "", resolve, reject });
        const params = { max_new_tokens: 64, temperature: 0, top_p: 1, top_k: 0, repetition_penalty: 1, seed: null };
        getSocket().emit(
          "chat:send",
          { requestId, messages: [{ role: "user", content: question }], params, useAdapters: true },
          (res) => {
            if (!res.ok) {
              waiters.current.delete(requestId);
              reject(new Error(res.error));
            }
          },
        );
      }),
    [],
  );

  return { state, setState, askIdentity };
}
