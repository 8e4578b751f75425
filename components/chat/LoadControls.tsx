"use client";
// Base model + adapters picker, Load / Unload, and the load's progress (phases with percentages).
import { useT } from "@/lib/i18n/client";
import type { ChatState } from "@/lib/schemas/socket";
import type { ChatTemplate } from "@/lib/chat/template";

export interface ModelOption {
  path: string;
  name: string;
  demo: boolean;
  /** The template the model's tokenizer suggests (lib/models.ts: guessTemplate). */
  template: ChatTemplate;
}
export interface AdapterOption {
  runId: number;
  name: string;
  path: string;
  modelPath: string;
  /** The template its run trained with (null when the stored config has none). */
  template: ChatTemplate | null;
}

const PHASE_KEY = { weights: "chat.phase.weights", adapters: "chat.phase.adapters", warmup: "chat.phase.warmup" } as const;

interface Props {
  models: ModelOption[];
  adapters: AdapterOption[];
  modelPath: string;
  onModel: (path: string) => void;
  selected: string[];
  onToggle: (path: string) => void;
  state: ChatState | null;
  onLoad: () => void;
  onUnload: () => void;
}

export function LoadControls({ models, adapters, modelPath, onModel, selected, onToggle, state, onLoad, onUnload }: Props) {
  const t = useT();
  const s = state?.state ?? "idle";
  return (
    <div className="space-y-3">
      <div>
        <label className="field-label" htmlFor="chat-model">{t("chat.load.model")}</label>
        <select id="chat-model" className="field-input" value={modelPath} onChange={(e) => onModel(e.target.value)}>
          {models.map((m) => (
            <option key={m.path} value={m.path}>
              {m.name}
              {m.demo ? ` ${t("chat.load.demo")}` : ""}
            </option>
          ))}
        </select>
      </div>
      <fieldset>
        <legend className="field-label">{t("chat.load.adapters")}</legend>
        {adapters.length === 0 && <p className="text-xs text-slate-500">{t("chat.load.noAdapters")}</p>}
        <div className="mt-1 max-h-40 space-y-1 overflow-auto">
          {adapters.map((a) => (
            <label key={a.path} className="flex items-center gap-2 text-sm">
              <input
                type="checkbox"
                data-testid={`adapter-${a.runId}`}
                checked={selected.includes(a.path)}
                onChange={() => onToggle(a.path)}
              />
              {t("chat.load.run", { id: a.runId, name: a.name })}
            </label>
          ))}
        </div>
        <p className="mt-1 text-xs text-slate-500">{t("chat.load.adaptersHint")}</p>
      </fieldset>
      <div className="flex gap-2">
        <button className="btn btn-primary" onClick={onLoad} disabled={s === "loading" || !modelPath}>
          {t("chat.load.load")}
        </button>
        <button className="btn btn-secondary" onClick={onUnload} disabled={s === "idle"}>
          {t("chat.load.unload")}
        </button>
      </div>
      <div className="text-sm" data-testid="chat-state" data-state={s}>
        {s === "loading" && (
          <div data-testid="load-progress">
            <span>{state?.phase ? t(PHASE_KEY[state.phase]) : t("chat.load.loading")}</span>
            {state?.progress != null && <span> {Math.round(state.progress * 100)}%</span>}
            <progress
              className="mt-1 block w-full"
              aria-label={state?.phase ? t(PHASE_KEY[state.phase]) : t("chat.load.loading")}
              max={1}
              value={state?.progress ?? undefined}
            />
          </div>
        )}
        {s === "ready" && state && (
          <span>
            {t("chat.load.loaded", {
              model: state.modelPath?.split("/").at(-1) ?? "",
              adapters: state.adapterPaths?.length ? t("chat.load.plusAdapters", { n: state.adapterPaths.length }) : "",
              s: state.loadS?.toFixed(1) ?? "?",
              device: state.device ?? "?",
            })}
          </span>
        )}
        {s === "error" && <span className="text-red-700" role="alert">{state?.message}</span>}
        {s === "idle" && t("chat.load.idle")}
      </div>
      {state?.phases && state.phases.length > 0 && (
        <ol className="text-xs text-slate-500" aria-label={t("chat.load.phases")} data-testid="load-phases">
          {state.phases.map((p) => (
            <li key={p.phase}>
              ✓ {t(PHASE_KEY[p.phase])} · {p.s.toFixed(2)} s
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
