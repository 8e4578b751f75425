"use client";
// The Chat page's client side: load a base model + adapters on a worker, stream answers over
// socket.io (Stop ends them), compare with the base model, run the identity check. The conversation
// and settings are kept in localStorage (components/chat/store.ts says why).
import { useState } from "react";
import { getSocket } from "@/lib/realtime/client";
import { useT } from "@/lib/i18n/client";
import { LoadControls, type AdapterOption, type ModelOption } from "./chat/LoadControls";
import { chatTemplateFor } from "@/lib/chat/template";
import { SettingsFields } from "./chat/SettingsFields";
import { Conversation } from "./chat/Conversation";
import { IdentityCheck } from "./chat/IdentityCheck";
import { ApiSnippet } from "./chat/ApiSnippet";
import { Composer } from "./chat/Composer";
import { parseSettings } from "./chat/settings";
import type { SettingsForm } from "./chat/store";
import { useChatStream } from "./chat/use-chat-stream";
import { useSend } from "./chat/use-send";
import { COMPARE_MAX_NEW_TOKENS } from "@/lib/chat/compare";
import { useSavedChat } from "./chat/use-saved-chat";
import type { IdentityScore } from "./chat/identity";
import { recordIdentityCheck } from "@/app/chat/actions";

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


export function ChatPanel({ models, adapters, initialModel, initialAdapter, questions, identityAnswers, identities, api }: Props) {
  const t = useT();
  const [modelPath, setModelPath] = useState(initialModel);
  const [selected, setSelected] = useState<string[]>(initialAdapter ? [initialAdapter] : []);
  const [error, setError] = useState<string | null>(null);
  const { turns, setTurns, settings, setSettings, compare, setCompare } = useSavedChat();
  const [errors, setErrors] = useState<Partial<Record<keyof SettingsForm, string>>>({});
  const [input, setInput] = useState("");
  const [pending, setPending] = useState<string[]>([]);
  const known = initialAdapter ? identities[initialAdapter] : undefined;
  const [idName, setIdName] = useState(known?.name ?? "");
  const [idAuthor, setIdAuthor] = useState(known?.author ?? "");
  const { state, setState, askIdentity } = useChatStream(setTurns, setPending, setError);

  const ready = state?.state === "ready";
  const adaptersLoaded = ready && (state?.adapterPaths?.length ?? (state?.adapterPath ? 1 : 0)) > 0;

  const keepScore = (score: IdentityScore) =>
    keepIdentityScore(state?.adapterPaths ?? (state?.adapterPath ? [state.adapterPath] : []), idName, idAuthor, settings.system, score);

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

  const { send: sendQuestion, stop, stopOne } = useSend({ turns, setTurns, pending, setPending, setError });
  const send = () => {
    const text = input.trim();
    if (!text || pending.length) return;
    const parsed = parseSettings(settings, t);
    if (!parsed.ok) return setErrors(parsed.errors);
    setErrors({});
    setError(null);
    setInput("");
    sendQuestion(text, settings.system, parsed.params, compare && adaptersLoaded);
  };

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
          loaded={ready}
          busy={pending.length > 0}
          ask={askIdentity}
          onScored={keepScore}
        />
      </aside>
      <section className="card flex min-h-[30rem] flex-col">
        <CompareToggle checked={compare} onChange={setCompare} />
        <div className="flex-1 space-y-3 overflow-auto" data-testid="chat-log">
          <Conversation turns={turns} pending={pending} onStop={stopOne} />
        </div>
        {error && <p className="field-error" role="alert">{error}</p>}
        <Composer
          ready={ready}
          input={input}
          onInput={setInput}
          onSend={send}
          onStop={stop}
          onClear={() => setTurns([])}
          streaming={pending.length > 0}
        />
        <p className="mt-1 text-xs text-slate-500">{t("chat.input.saved")}</p>
      </section>
    </div>
  );
}

/** Compare: each question also goes to the base model (the adapters switched off for that request). */
function CompareToggle({ checked, onChange }: { checked: boolean; onChange: (on: boolean) => void }) {
  const t = useT();
  return (
    <label className="mb-2 flex items-center gap-2 text-sm" title={t("chat.compare.hint", { n: COMPARE_MAX_NEW_TOKENS })}>
      <input type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      {t("chat.compare.toggle")}
    </label>
  );
}

/** A check of exactly one loaded adapter is that run's result: stored with the run, its model card shows it. */
function keepIdentityScore(loaded: string[], name: string, author: string, system: string, score: IdentityScore) {
  if (loaded.length !== 1 || score.total === 0 || !name.trim()) return;
  const example = score.rows.find((r) => r.hasName && r.hasAuthor) ?? score.rows[0];
  recordIdentityCheck({
    adapterPath: loaded[0],
    check: {
      name: name.trim(), author: author.trim(), total: score.total, with_name: score.withName,
      with_author: score.withAuthor, with_both: score.withBoth, clean: score.clean,
      example_answer: example.answer.slice(0, 2_000), system_prompt: system.trim(),
    },
  }).catch(() => {}); // the check's table is shown either way; only the card misses it
}
