"use client";
// One click: the held-out identity questions, answered greedily by the loaded model, scored for
// the name and the author and for clean wording (components/chat/identity.ts).
import { useState } from "react";
import { fillIdentityAnswer, vocabularyOf } from "@/lib/chat/clean-answer";
import { useT } from "@/lib/i18n/client";
import { scoreIdentity, type IdentityAnswer, type IdentityScore } from "./identity";

interface Props {
  questions: string[];
  /** The identity template's answers ({{name}}/{{author}} kept): filled with name and author, the training answers. */
  answerTemplates: string[];
  name: string;
  author: string;
  onName: (v: string) => void;
  onAuthor: (v: string) => void;
  /** A model is loaded. */
  loaded: boolean;
  /** An answer in the conversation is still streaming: the chat process answers one at a time. */
  busy: boolean;
  /** Sends one question (greedy, no history) and resolves with the whole answer. */
  ask: (question: string) => Promise<string>;
  /** Called with each finished check (the run keeps it for its model card). */
  onScored?: (score: IdentityScore) => void;
}

export function IdentityCheck({ questions, answerTemplates, name, author, onName, onAuthor, loaded, busy, ask, onScored }: Props) {
  const t = useT();
  const [progress, setProgress] = useState<number | null>(null);
  const [score, setScore] = useState<IdentityScore | null>(null);
  const [error, setError] = useState<string | null>(null);

  const run = async () => {
    if (!name.trim()) return setError(t("chat.identity.needName"));
    setError(null);
    setScore(null);
    const answers: IdentityAnswer[] = [];
    try {
      for (const [i, q] of questions.entries()) {
        setProgress(i + 1);
        answers.push({ question: q, answer: await ask(q) });
      }
      const vocabulary = vocabularyOf(answerTemplates.map((a) => fillIdentityAnswer(a, name.trim(), author.trim())));
      const scored = scoreIdentity(answers, name, author, vocabulary);
      setScore(scored);
      onScored?.(scored);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setProgress(null);
    }
  };

  return (
    <section className="card space-y-2" aria-labelledby="identity-title">
      <h2 id="identity-title" className="text-sm font-semibold">{t("chat.identity.title")}</h2>
      <p className="text-xs text-slate-500">{t("chat.identity.hint", { n: questions.length })}</p>
      <div className="grid grid-cols-2 gap-2">
        <div>
          <label className="field-label" htmlFor="idcheck-name">{t("chat.identity.name")}</label>
          <input id="idcheck-name" className="field-input" value={name} onChange={(e) => onName(e.target.value)} />
        </div>
        <div>
          <label className="field-label" htmlFor="idcheck-author">{t("chat.identity.author")}</label>
          <input id="idcheck-author" className="field-input" value={author} onChange={(e) => onAuthor(e.target.value)} />
        </div>
      </div>
      <button type="button" className="btn btn-secondary" onClick={run} disabled={!loaded || busy || progress !== null}>
        {t("chat.identity.run")}
      </button>
      {!loaded ? (
        <p className="text-xs text-slate-500" data-testid="identity-wait">{t("chat.identity.needModel")}</p>
      ) : (
        busy && progress === null && <p className="text-xs text-slate-500" data-testid="identity-wait">{t("chat.identity.busy")}</p>
      )}
      {progress !== null && (
        <p className="text-xs" role="status">{t("chat.identity.running", { i: progress, n: questions.length })}</p>
      )}
      {error && <p className="field-error" role="alert">{error}</p>}
      {score && (
        <div className="space-y-2">
          <p
            className="text-sm font-medium"
            data-testid="identity-summary"
            data-total={score.total}
            data-name-count={score.withName}
            data-author-count={score.withAuthor}
            data-both-count={score.withBoth}
            data-clean-count={score.clean}
          >
            {t("chat.identity.summary", { name: score.withName, author: score.withAuthor, total: score.total })}
          </p>
          <p className="text-sm font-medium" data-testid="identity-clean-summary">
            {t("chat.identity.cleanSummary", { both: score.withBoth, clean: score.clean, total: score.total })}
          </p>
          <p className="text-xs text-slate-500">{t("chat.identity.cleanHint")}</p>
          <div className="max-h-72 overflow-auto">
            <table className="w-full text-left text-xs" data-testid="identity-table">
              <thead>
                <tr>
                  <th scope="col" className="pr-2">{t("chat.identity.question")}</th>
                  <th scope="col" className="pr-2">{t("chat.identity.answer")}</th>
                  <th scope="col">{t("chat.identity.hasName")}</th>
                  <th scope="col" className="pr-2">{t("chat.identity.hasAuthor")}</th>
                  <th scope="col">{t("chat.identity.isClean")}</th>
                </tr>
              </thead>
              <tbody>
                {score.rows.map((r, i) => (
                  <tr key={i} className="border-t align-top">
                    <td className="pr-2">{r.question}</td>
                    <td className="pr-2 whitespace-pre-wrap">{r.answer}</td>
                    <td>{r.hasName ? t("chat.identity.yes") : t("chat.identity.no")}</td>
                    <td className="pr-2">{r.hasAuthor ? t("chat.identity.yes") : t("chat.identity.no")}</td>
                    <td>{r.isClean ? t("chat.identity.yes") : t("chat.identity.no")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </section>
  );
}
