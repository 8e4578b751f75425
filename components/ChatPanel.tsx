"use client";
// The Chat page's client side: load a base model + adapters on a worker, stream answers over
// socket.io (Stop ends them), compare with the base model, run the identity check. The conversation
// and settings are kept in localStorage (components/chat/store.ts says why).
import { useCallback, useEffect, useRef, useState } from "react";
import { getSocket } from "@/lib/realtime/client";
import { useT } from "@/lib/i18n/client";
import type { ChatState } from "@/lib/schemas/socket";
import { LoadControls, type AdapterOption, type ModelOption } from "./chat/LoadControls";
import { chatTemplateFor } from "@/lib/chat/template";
import { SettingsFields } from "./chat/SettingsFields";
import { Conversation } from "./chat/Conversation";
import { IdentityCheck } from "./chat/IdentityCheck";
import { ApiSnippet } from "./chat/ApiSnippet";
import { parseSettings } from "./chat/settings";
import {
  DEFAULT_SETTINGS,
  historyFor,
  interrupted,
  loadSaved,
  save,
  type Answer,
  type SettingsForm,
  type Turn,
} from "./chat/store";

interface Props {
  models: ModelOption[];
  adapters: AdapterOption[];
  initialModel: string;
  initialAdapter: string | null;
  questions: string[];
  /** The identity template's answers with their placeholders: the Identity check's vocabulary of clean words. */
  identityAnswers: string[];
  /** name/author per adapter path, recovered from the run's identity dataset when possible */
  identities: Record<string, { name: string; author: string }>;
  /** The API's base URL and its model ids by model or adapter folder (real paths), for the snippet. */
  api?: { url: string; ids: Record<string, string> };
}

type Done = { requestId: string; finishReason: Answer["finish"]; tokensPerSec: number | null; error?: string | null };
const newId = () => crypto.randomUUID().replace(/-/g, "").slice(0, 24);

export function ChatPanel({ models, adapters, initialModel, initialAdapter, questions, identityAnswers, identities, api }: Props) {
  const t = useT();
  const [modelPath, setModelPath] = useState(initialModel);
  const [selected, setSelected] = useState<string[]>(initialAdapter ? [initialAdapter] : []);
  const [state, setState] = useState<ChatState | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [settings, setSettings] = useState<SettingsForm>(DEFAULT_SETTINGS);
  const [errors, setErrors] = useState<Partial<Record<keyof SettingsForm, string>>>({});
  const [compare, setCompare] = useState(false);
  const [input, setInput] = useState("");
  const [pending, setPending] = useState<string[]>([]);
  const [restored, setRestored] = useState(false);
  const known = initialAdapter ? identities[initialAdapter] : undefined;
  const [idName, setIdName] = useState(known?.name ?? "");
  const [idAuthor, setIdAuthor] = useState(known?.author ?? "");
  // Identity-check requests: resolved on their chat:done, not shown in the conversation.
  const waiters = useRef(new Map<string, { text: string; resolve: (s: string) => void; reject: (e: Error) => void }>());

  // Restore after mount (localStorage does not exist during server rendering).
  useEffect(() => {
    const s = loadSaved(window.localStorage);
    if (s) {
      const fixed = interrupted(s.turns);
      setTurns(fixed.turns);
      setSettings(s.settings);
      setCompare(s.compare);
      for (const requestId of fixed.requestIds) getSocket().emit("chat:stop", { requestId });
    }
    setRestored(true);
  }, []);
  useEffect(() => {
    if (restored) save(window.localStorage, { turns, settings, compare });
  }, [restored, turns, settings, compare]);

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
  }, []);

  const ready = state?.state === "ready";
  const adaptersLoaded = ready && (state?.adapterPaths?.length ?? (state?.adapterPath ? 1 : 0)) > 0;

  const toggle = (p: string) => {
    setSelected((s) => (s.includes(p) ? s.filter((x) => x !== p) : [...s, p]));
    const id = identities[p];
    if (id && !selected.includes(p)) {
      setIdName(id.name);
      setIdAuthor(id.author);
    }
  };
  const load = () => {
    setError(null);
    const template = chatTemplateFor(
      models.find((m) => m.path === modelPath),
      selected.map((p) => adapters.find((a) => a.path === p) ?? { template: null }),
    );
    getSocket().emit("chat:load", { modelPath, adapterPaths: selected, template }, (res) => {
      if (!res.ok) setError(res.error);
      else setState(res.data);
    });
  };
  const unload = () => getSocket().emit("chat:unload", {}, (res) => res.ok && setState(res.data));

  const emitSend = (requestId: string, messages: ReturnType<typeof historyFor>, params: unknown, useAdapters: boolean) =>
    new Promise<void>((resolve, reject) =>
      getSocket().emit("chat:send", { requestId, messages, params, useAdapters }, (res) =>
        res.ok ? resolve() : reject(new Error(res.error)),
      ),
    );

  const send = () => {
    const text = input.trim();
    if (!text || pending.length) return;
    const parsed = parseSettings(settings, t);
    if (!parsed.ok) return setErrors(parsed.errors);
    setErrors({});
    setError(null);
    const both = compare && adaptersLoaded;
    const tuned: Answer = { requestId: newId(), content: "" };
    const base: Answer | undefined = both ? { requestId: newId(), content: "" } : undefined;
    const ids = [tuned.requestId, ...(base ? [base.requestId] : [])];
    const history = turns;
    setTurns((ts) => [...ts, { user: text, tuned, ...(base ? { base } : {}) }]);
    setPending(ids);
    setInput("");
    const fail = (err: Error) => {
      setError(err.message);
      setPending([]);
      setTurns((ts) => ts.filter((x) => x.tuned.requestId !== tuned.requestId));
    };
    // The chat process answers in order: the fine-tuned answer first, then the base one.
    emitSend(tuned.requestId, historyFor(history, "tuned", settings.system, text), parsed.params, true)
      .then(() => base && emitSend(base.requestId, historyFor(history, "base", settings.system, text), parsed.params, false))
      .catch(fail);
  };
  const stop = () => pending.forEach((requestId) => getSocket().emit("chat:stop", { requestId }));

  const askIdentity = useCallback(
    (question: string) =>
      new Promise<string>((resolve, reject) => {
        const requestId = newId();
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

  return (
    <div className="grid gap-4 lg:grid-cols-[21rem_1fr]">
      <aside className="space-y-4">
        <div className="card space-y-3">
          <LoadControls
            models={models}
            adapters={adapters}
            modelPath={modelPath}
            onModel={setModelPath}
            selected={selected}
            onToggle={toggle}
            state={state}
            onLoad={load}
            onUnload={unload}
          />
          <SettingsFields form={settings} onChange={setSettings} errors={errors} />
        </div>
        {ready && api && (
          <ApiSnippet
            apiUrl={api.url}
            modelIds={[...(state?.adapterPaths ?? []), state?.modelPath ?? ""].flatMap((p) => (api.ids[p] ? [api.ids[p]] : []))}
          />
        )}
        <IdentityCheck
          questions={questions}
          answerTemplates={identityAnswers}
          name={idName}
          author={idAuthor}
          onName={setIdName}
          onAuthor={setIdAuthor}
          ready={ready && pending.length === 0}
          ask={askIdentity}
        />
      </aside>
      <section className="card flex min-h-[30rem] flex-col">
        <label className="mb-2 flex items-center gap-2 text-sm" title={t("chat.compare.hint")}>
          <input type="checkbox" checked={compare} onChange={(e) => setCompare(e.target.checked)} />
          {t("chat.compare.toggle")}
        </label>
        <div className="flex-1 space-y-3 overflow-auto" data-testid="chat-log">
          <Conversation turns={turns} />
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
            aria-label={t("chat.input.label")}
            placeholder={ready ? t("chat.input.placeholder") : t("chat.input.placeholderIdle")}
            value={input}
            onChange={(e) => setInput(e.target.value)}
            disabled={!ready}
          />
          {pending.length ? (
            <button type="button" className="btn btn-secondary" onClick={stop}>{t("chat.input.stop")}</button>
          ) : (
            <button type="submit" className="btn btn-primary" disabled={!ready || !input.trim()}>{t("chat.input.send")}</button>
          )}
          <button type="button" className="btn btn-secondary" onClick={() => setTurns([])} disabled={pending.length > 0}>
            {t("chat.input.clear")}
          </button>
        </form>
        <p className="mt-1 text-xs text-slate-500">{t("chat.input.saved")}</p>
      </section>
    </div>
  );
}
