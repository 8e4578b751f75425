"use client";
// Save the form under a name, load a saved one back, delete one. Saving validates like Start
// (errors land on the fields); loading replaces the fields the saved config names.
import { useState, useTransition } from "react";
import { useT } from "@/lib/i18n/client";
import { deleteConfigAction, loadConfigAction, saveConfigAction } from "@/app/train/actions";
import { stateToInput, type FormState } from "@/lib/configs/form";
import type { RunConfig } from "@/lib/schemas/run-config";
import type { SavedConfigSummary } from "@/lib/configs/saved";
import type { FieldErrors } from "./types";

export function SavedConfigs({
  initial,
  form,
  onErrors,
  onLoad,
}: {
  initial: SavedConfigSummary[];
  form: FormState;
  onErrors: (e: FieldErrors | null) => void;
  onLoad: (config: Partial<RunConfig>) => void;
}) {
  const t = useT();
  const [list, setList] = useState(initial);
  const [name, setName] = useState("");
  const [picked, setPicked] = useState(initial[0]?.name ?? "");
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);
  const [nameError, setNameError] = useState<string | null>(null);
  const [pending, startTransition] = useTransition();

  const save = () =>
    startTransition(async () => {
      const r = await saveConfigAction(name, stateToInput(form));
      if (!r.ok) {
        setNameError(r.fieldErrors.saved_name ?? null);
        const { saved_name: _n, ...rest } = r.fieldErrors;
        onErrors(Object.keys(rest).length > 0 ? rest : null);
        setMessage({ text: r.fieldErrors.saved_name && Object.keys(rest).length === 0 ? t("train.saved.nameRequired") : t("train.saved.invalid"), error: true });
        return;
      }
      setNameError(null);
      onErrors(null);
      setList(r.list);
      setPicked(r.name);
      setMessage({ text: t(r.created ? "train.saved.saved" : "train.saved.updated", { name: r.name }), error: false });
    });
  const load = () =>
    startTransition(async () => {
      const r = await loadConfigAction(picked);
      if (!r) {
        setMessage({ text: t("train.saved.notFound", { name: picked }), error: true });
        return;
      }
      onLoad(r.config);
      setName(picked);
      setMessage({ text: t("train.saved.loaded", { name: picked }), error: false });
    });
  const remove = () =>
    startTransition(async () => {
      const r = await deleteConfigAction(picked);
      setList(r.list);
      setMessage({ text: r.deleted ? t("train.saved.deleted", { name: picked }) : t("train.saved.notFound", { name: picked }), error: !r.deleted });
      setPicked(r.list[0]?.name ?? "");
    });

  return (
    <section className="card space-y-3" aria-labelledby="saved-title">
      <h2 id="saved-title" className="font-semibold">
        {t("train.saved.title")}
      </h2>
      <div>
        <label className="field-label" htmlFor="saved_name">
          {t("train.saved.name")}
        </label>
        <div className="flex gap-2">
          <input
            id="saved_name"
            className="field-input min-w-0"
            autoComplete="off"
            value={name}
            maxLength={80}
            onChange={(e) => setName(e.target.value)}
            onKeyDown={(e) => {
              // Enter here saves the configuration; it must not submit the Train form (= Start).
              if (e.key === "Enter") {
                e.preventDefault();
                save();
              }
            }}
            aria-invalid={nameError ? true : undefined}
            aria-describedby={nameError ? "saved_name-error" : undefined}
          />
          <button type="button" className="btn btn-secondary mt-1 shrink-0" onClick={save} disabled={pending}>
            {t("train.saved.save")}
          </button>
        </div>
        {nameError && (
          <p id="saved_name-error" className="field-error" role="alert" data-testid="error-saved_name">
            {nameError}
          </p>
        )}
      </div>
      <div>
        <label className="field-label" htmlFor="saved_pick">
          {t("train.saved.pick")}
        </label>
        <div className="flex flex-wrap gap-2">
          <select id="saved_pick" className="field-input min-w-0 flex-1" value={picked} onChange={(e) => setPicked(e.target.value)} disabled={list.length === 0}>
            {list.length === 0 && <option value="">{t("train.saved.none")}</option>}
            {list.map((c) => (
              <option key={c.name} value={c.name}>
                {c.name}
              </option>
            ))}
          </select>
          <button type="button" className="btn btn-secondary mt-1" onClick={load} disabled={pending || !picked}>
            {t("train.saved.load")}
          </button>
          <button type="button" className="btn btn-secondary mt-1" onClick={remove} disabled={pending || !picked}>
            {t("train.saved.delete")}
          </button>
        </div>
      </div>
      <p role="status" aria-live="polite" data-testid="saved-status" className={`min-h-5 text-sm ${message?.error ? "text-red-700" : "text-green-800"}`}>
        {message?.text ?? ""}
      </p>
    </section>
  );
}
