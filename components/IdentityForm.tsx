"use client";
import { useActionState, useState } from "react";
import { fillIdentityAction, type IdentityFormState } from "@/app/datasets/actions";
import { useT } from "@/lib/i18n/client";

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 40);

export function IdentityForm({ templates }: { templates: string[] }) {
  const t = useT();
  const [state, action, pending] = useActionState<IdentityFormState, FormData>(fillIdentityAction, { fieldErrors: {} });
  // Controlled inputs: React resets uncontrolled ones after a form action, which would wipe what
  // the user typed when the server answers with an error.
  const [name, setName] = useState("");
  const [author, setAuthor] = useState("");
  const [newName, setNewName] = useState("");
  const [touched, setTouched] = useState(false);
  const errs = state.fieldErrors;
  const shownNewName = touched ? newName : name ? `identity_${slug(name)}` : "";

  const err = (f: keyof IdentityFormState["fieldErrors"]) =>
    errs[f] ? (
      <p className="field-error" role="alert" data-testid={`error-${f}`}>
        {errs[f]}
      </p>
    ) : null;

  return (
    <form action={action} className="card grid gap-3 sm:grid-cols-4" noValidate>
      <h2 className="font-semibold sm:col-span-4">{t("datasets.identity.title")}</h2>
      <p className="-mt-2 text-sm text-slate-600 sm:col-span-4">
        {t("datasets.identity.intro", { a: "{{name}}", b: "{{author}}" })}
      </p>
      <div>
        <label className="field-label" htmlFor="sourceName">{t("datasets.identity.template")}</label>
        <select id="sourceName" name="sourceName" className="field-input" defaultValue={templates[0]}>
          {templates.map((t) => <option key={t}>{t}</option>)}
        </select>
        {err("sourceName")}
      </div>
      <div>
        <label className="field-label" htmlFor="identity-name">{t("datasets.identity.name")}</label>
        <input id="identity-name" name="name" className="field-input" value={name} onChange={(e) => setName(e.target.value)} placeholder="Greatbot" />
        {err("name")}
      </div>
      <div>
        <label className="field-label" htmlFor="identity-author">{t("datasets.identity.author")}</label>
        <input id="identity-author" name="author" className="field-input" value={author} onChange={(e) => setAuthor(e.target.value)} placeholder="Allen" />
        {err("author")}
      </div>
      <div>
        <label className="field-label" htmlFor="newName">{t("datasets.identity.saveAs")}</label>
        <input
          id="newName"
          name="newName"
          className="field-input font-mono"
          value={shownNewName}
          onChange={(e) => {
            setTouched(true);
            setNewName(e.target.value);
          }}
        />
        {err("newName")}
      </div>
      <div className="sm:col-span-4">
        <button type="submit" className="btn btn-primary" disabled={pending}>
          {pending ? t("datasets.identity.saving") : t("datasets.identity.save")}
        </button>
        {state.created && (
          <span className="ml-3 text-sm text-emerald-700" role="status" data-testid="identity-created">
            {t("datasets.identity.saved", { file: state.created.fileName, n: state.created.records, name: state.created.name })}
          </span>
        )}
      </div>
    </form>
  );
}
