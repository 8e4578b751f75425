"use client";
import { useEffect, useRef, useState } from "react";
import { getSocket } from "@/lib/realtime/client";
import type { ChatMessage, ChatState } from "@/lib/schemas/socket";

interface Props {
  models: { path: string; name: string; demo: boolean }[];
  adapters: { runId: number; name: string; path: string; modelPath: string }[];
  initialModel: string;
  initialAdapter: string | null;
}

interface Turn extends ChatMessage {
  requestId?: string;
  finish?: string;
  tokensPerSec?: number | null;
}

export function ChatPanel({ models, adapters, initialModel, initialAdapter }: Props) {
  const [modelPath, setModelPath] = useState(initialModel);
  const [adapterPath, setAdapterPath] = useState<string>(initialAdapter ?? "");
  const [state, setState] = useState<ChatState | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [input, setInput] = useState("");
  const [system, setSystem] = useState("");
  const [temperature, setTemperature] = useState("0.95");
  const [topP, setTopP] = useState("0.7");
  const [maxNew, setMaxNew] = useState("1024");
  const [pending, setPending] = useState<string | null>(null);
  const pendingRef = useRef<string | null>(null);
  pendingRef.current = pending;

  useEffect(() => {
    const socket = getSocket();
    const subscribe = () => socket.emit("chat:subscribe", {}, (res) => res.ok && setState(res.data));
    const onState = (s: ChatState) => setState(s);
    const onToken = (t: { requestId: string; text: string }) =>
      setTurns((ts) => ts.map((x) => (x.requestId === t.requestId ? { ...x, content: x.content + t.text } : x)));
    const onDone = (d: { requestId: string; finishReason: string; tokensPerSec: number | null; error?: string | null }) => {
      setTurns((ts) => ts.map((x) => (x.requestId === d.requestId ? { ...x, finish: d.finishReason, tokensPerSec: d.tokensPerSec } : x)));
      if (d.error) setError(d.error);
      if (pendingRef.current === d.requestId) setPending(null);
    };
    socket.on("connect", subscribe);
    socket.on("chat:state", onState);
    socket.on("chat:token", onToken);
    socket.on("chat:done", onDone);
    if (socket.connected) subscribe();
    return () => {
      socket.off("connect", subscribe);
      socket.off("chat:state", onState);
      socket.off("chat:token", onToken);
      socket.off("chat:done", onDone);
    };
  }, []);

  const load = () => {
    setError(null);
    getSocket().emit("chat:load", { modelPath, adapterPath: adapterPath || null, template: "llama3" }, (res) => {
      if (!res.ok) setError(res.error);
      else setState(res.data);
    });
  };
  const unload = () => getSocket().emit("chat:unload", {}, (res) => res.ok && setState(res.data));

  const send = () => {
    const text = input.trim();
    if (!text || pending) return;
    const requestId = crypto.randomUUID().slice(0, 16);
    const history: ChatMessage[] = [
      ...(system.trim() ? [{ role: "system" as const, content: system.trim() }] : []),
      ...turns.map(({ role, content }) => ({ role, content })),
      { role: "user", content: text },
    ];
    const params = {
      temperature: Number(temperature),
      top_p: Number(topP),
      max_new_tokens: Number(maxNew),
      top_k: 50,
      seed: null,
    };
    setError(null);
    getSocket().emit("chat:send", { requestId, messages: history, params }, (res) => {
      if (!res.ok) {
        setError(res.error);
        setPending(null);
        setTurns((ts) => ts.filter((t) => t.requestId !== requestId));
      }
    });
    setTurns((ts) => [...ts, { role: "user", content: text }, { role: "assistant", content: "", requestId }]);
    setPending(requestId);
    setInput("");
  };
  const stop = () => pending && getSocket().emit("chat:stop", { requestId: pending });

  const ready = state?.state === "ready";
  return (
    <div className="grid gap-4 lg:grid-cols-[20rem_1fr]">
      <aside className="card space-y-3">
        <div>
          <label className="field-label" htmlFor="chat-model">Base model</label>
          <select id="chat-model" className="field-input" value={modelPath} onChange={(e) => setModelPath(e.target.value)}>
            {models.map((m) => (
              <option key={m.path} value={m.path}>{m.name}{m.demo ? " (demo)" : ""}</option>
            ))}
          </select>
        </div>
        <div>
          <label className="field-label" htmlFor="chat-adapter">Checkpoint (LoRA adapter)</label>
          <select id="chat-adapter" className="field-input" value={adapterPath} onChange={(e) => setAdapterPath(e.target.value)}>
            <option value="">none: base model only</option>
            {adapters.map((a) => (
              <option key={a.path} value={a.path}>run #{a.runId}: {a.name}</option>
            ))}
          </select>
        </div>
        <div className="flex gap-2">
          <button className="btn btn-primary" onClick={load} disabled={state?.state === "loading" || !modelPath}>Load</button>
          <button className="btn btn-secondary" onClick={unload} disabled={!state || state.state === "idle"}>Unload</button>
        </div>
        <p className="text-sm" data-testid="chat-state" data-state={state?.state ?? "idle"}>
          {state?.state === "loading" && "Loading…"}
          {state?.state === "ready" && `Loaded ${state.modelPath?.split("/").at(-1)}${state.adapterPath ? " + adapter" : ""}${state.loadS != null ? ` in ${state.loadS.toFixed(1)} s` : ""}`}
          {state?.state === "error" && <span className="text-red-700">{state.message}</span>}
          {(!state || state.state === "idle") && "No model loaded."}
        </p>
        <details>
          <summary className="cursor-pointer text-sm font-medium">Generation settings</summary>
          <div className="mt-2 space-y-2">
            <label className="field-label" htmlFor="temperature">Temperature (0 = greedy)</label>
            <input id="temperature" className="field-input" value={temperature} onChange={(e) => setTemperature(e.target.value)} />
            <label className="field-label" htmlFor="top_p">Top-p</label>
            <input id="top_p" className="field-input" value={topP} onChange={(e) => setTopP(e.target.value)} />
            <label className="field-label" htmlFor="max_new_tokens">Max new tokens</label>
            <input id="max_new_tokens" className="field-input" value={maxNew} onChange={(e) => setMaxNew(e.target.value)} />
            <label className="field-label" htmlFor="system">System prompt</label>
            <textarea id="system" className="field-input" rows={3} value={system} onChange={(e) => setSystem(e.target.value)} />
          </div>
        </details>
      </aside>
      <section className="card flex min-h-[28rem] flex-col">
        <div className="flex-1 space-y-3 overflow-auto" data-testid="chat-log">
          {turns.map((t, i) => (
            <div key={i} className={t.role === "user" ? "text-right" : ""}>
              <div
                className={`inline-block max-w-[85%] whitespace-pre-wrap rounded-lg px-3 py-2 text-left text-sm ${t.role === "user" ? "bg-indigo-600 text-white" : "bg-slate-100"}`}
                data-testid={t.role === "assistant" ? "assistant-message" : "user-message"}
                data-finished={t.role === "assistant" ? String(Boolean(t.finish)) : undefined}
              >
                {t.content || (t.finish ? "(empty answer)" : "…")}
              </div>
              {t.finish && t.role === "assistant" && (
                <div className="mt-0.5 text-xs text-slate-400">
                  {t.finish}{t.tokensPerSec ? ` · ${t.tokensPerSec.toFixed(1)} tok/s` : ""}
                </div>
              )}
            </div>
          ))}
        </div>
        {error && <p className="field-error" role="alert">{error}</p>}
        <form
          className="mt-3 flex gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            send();
          }}
        >
          <input
            className="field-input mt-0"
            aria-label="Message"
            placeholder={ready ? "Ask something…" : "Load a model first"}
            value={input}
            onChange={(e) => setInput(e.target.value)}
            disabled={!ready}
          />
          {pending ? (
            <button type="button" className="btn btn-secondary" onClick={stop}>Stop</button>
          ) : (
            <button type="submit" className="btn btn-primary" disabled={!ready || !input.trim()}>Send</button>
          )}
          <button type="button" className="btn btn-secondary" onClick={() => setTurns([])} disabled={Boolean(pending)}>Clear</button>
        </form>
      </section>
    </div>
  );
}
