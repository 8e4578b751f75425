"use client";
// The conversation: one row per question; in compare mode the fine-tuned and the base model's
// answers side by side.
import { useT } from "@/lib/i18n/client";
import type { Answer, Turn } from "./store";

function AnswerBubble({ a, testId, onStop }: { a: Answer; testId: string; onStop?: () => void }) {
  const t = useT();
  return (
    <div>
      {onStop && !a.finish && (
        <button type="button" className="float-right text-xs text-slate-600 underline" onClick={onStop} aria-label={t("chat.compare.stopSide")} data-testid={`${testId}-stop`}>
          {t("chat.input.stop")}
        </button>
      )}
      <div
        className="inline-block max-w-full whitespace-pre-wrap rounded-lg bg-slate-100 px-3 py-2 text-left text-sm"
        data-testid={testId}
        data-finished={String(Boolean(a.finish))}
      >
        {a.content || (a.finish ? t("chat.log.emptyAnswer") : "…")}
      </div>
      {a.finish && (
        <div className="mt-0.5 text-xs text-slate-500" data-testid={`${testId}-finish`} data-finish={a.finish}>
          {t(`chat.finish.${a.finish}`)}
          {a.tokensPerSec ? ` · ${a.tokensPerSec.toFixed(1)} tok/s` : ""}
          {a.error ? ` · ${a.error}` : ""}
        </div>
      )}
    </div>
  );
}

/** pending: the answers still streaming; in compare mode each side has its own Stop. */
export function Conversation({ turns, pending = [], onStop }: { turns: Turn[]; pending?: string[]; onStop?: (requestId: string) => void }) {
  const t = useT();
  const stopFor = (a: Answer) => (onStop && pending.includes(a.requestId) ? () => onStop(a.requestId) : undefined);
  if (turns.length === 0) return <p className="text-sm text-slate-500">{t("chat.log.empty")}</p>;
  return (
    <>
      {turns.map((turn, i) => (
        <div key={i} className="space-y-2">
          <div className="text-right">
            <div
              className="inline-block max-w-[85%] whitespace-pre-wrap rounded-lg bg-indigo-600 px-3 py-2 text-left text-sm text-white"
              data-testid="user-message"
            >
              {turn.user}
            </div>
          </div>
          {turn.base ? (
            <div className="grid grid-cols-2 gap-3" data-testid="compare-row">
              <div>
                <div className="mb-1 text-xs font-medium text-indigo-700">{t("chat.compare.tuned")}</div>
                <AnswerBubble a={turn.tuned} testId="assistant-message" onStop={stopFor(turn.tuned)} />
              </div>
              <div>
                <div className="mb-1 text-xs font-medium text-slate-600">{t("chat.compare.base")}</div>
                <AnswerBubble a={turn.base} testId="base-message" onStop={stopFor(turn.base)} />
              </div>
            </div>
          ) : (
            <div className="max-w-[85%]">
              <AnswerBubble a={turn.tuned} testId="assistant-message" />
            </div>
          )}
        </div>
      ))}
    </>
  );
}
