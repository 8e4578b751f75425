"use client";
// API keys (create: shown once; list by prefix with created/last used; revoke) and the
// "local API without key" switch, through the Settings page's server actions.
import { useState, useTransition } from "react";
import { useT, useLocale } from "@/lib/i18n/client";
import { createKeyAction, revokeKeyAction, setLocalWithoutKeyAction } from "@/app/settings/actions";
import { CopyButton } from "@/components/CopyButton";
import type { ApiKeyView } from "./key-view";

export function ApiKeysPanel(props: { initialKeys: ApiKeyView[]; initialLocalWithoutKey: boolean; apiUrl: string }) {
  const t = useT();
  const locale = useLocale();
  const [keys, setKeys] = useState(props.initialKeys);
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<string | null>(null);
  const [local, setLocal] = useState(props.initialLocalWithoutKey);
  const [saved, setSaved] = useState(false);
  const [pending, startTransition] = useTransition();
  const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString(locale === "zh" ? "zh-CN" : "en-GB") : t("settings.api.never"));

  const create = (e: React.FormEvent) => {
    e.preventDefault();
    startTransition(async () => {
      const r = await createKeyAction(name);
      if (!r.ok) return setError(r.error);
      setError(null);
      setCreated(r.key);
      setKeys(r.keys);
      setName("");
    });
  };
  const revoke = (k: ApiKeyView) => {
    if (!window.confirm(t("settings.api.revokeConfirm", { name: k.name }))) return;
    startTransition(async () => setKeys(await revokeKeyAction(k.id)));
  };
  const toggleLocal = (on: boolean) => {
    setLocal(on);
    setSaved(false);
    startTransition(async () => {
      setLocal(await setLocalWithoutKeyAction(on));
      setSaved(true);
    });
  };

  return (
    <section className="card space-y-4" aria-labelledby="api-keys-title">
      <h2 id="api-keys-title" className="text-lg font-semibold">{t("settings.api.title")}</h2>
      <p className="text-sm text-slate-600">{t("settings.api.intro", { url: props.apiUrl })}</p>
      <form onSubmit={create} className="flex flex-wrap items-end gap-2">
        <label className="grid gap-1 text-sm">
          {t("settings.api.name")}
          <input
            className="field-input"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder={t("settings.api.namePlaceholder")}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? "api-key-error" : undefined}
          />
        </label>
        <button type="submit" className="btn btn-primary" disabled={pending}>{t("settings.api.create")}</button>
      </form>
      {error && <p id="api-key-error" role="alert" className="text-sm text-red-700">{error}</p>}
      {created && (
        <div className="rounded border border-emerald-300 bg-emerald-50 p-3 text-sm" role="status">
          <p>{t("settings.api.created")}</p>
          <div className="mt-2 flex items-center gap-2">
            <code data-testid="new-api-key" className="break-all font-mono">{created}</code>
            <CopyButton text={created} />
          </div>
        </div>
      )}
      {keys.length === 0 ? (
        <p className="text-sm text-slate-600">{t("settings.api.empty")}</p>
      ) : (
        <table className="w-full text-left text-sm" data-testid="api-keys">
          <thead className="text-slate-500">
            <tr>
              <th className="p-2">{t("settings.api.col.name")}</th>
              <th className="p-2">{t("settings.api.col.prefix")}</th>
              <th className="p-2">{t("settings.api.col.created")}</th>
              <th className="p-2">{t("settings.api.col.lastUsed")}</th>
              <th className="p-2"><span className="sr-only">{t("settings.api.revoke")}</span></th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id} data-testid={`api-key-${k.id}`} className="border-t">
                <td className="p-2">{k.name}</td>
                <td className="p-2 font-mono">{k.prefix}…</td>
                <td className="p-2">{when(k.createdAt)}</td>
                <td className="p-2">{when(k.lastUsedAt)}</td>
                <td className="p-2">
                  <button type="button" className="btn btn-danger" onClick={() => revoke(k)} disabled={pending} aria-label={`${t("settings.api.revoke")} ${k.name}`}>
                    {t("settings.api.revoke")}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="space-y-1 border-t pt-4">
        <label className="flex items-center gap-2 text-sm font-medium">
          <input type="checkbox" checked={local} onChange={(e) => toggleLocal(e.target.checked)} disabled={pending} />
          {t("settings.local.label")}
        </label>
        <p className="text-sm text-slate-600">{t("settings.local.help")}</p>
        {saved && <p className="text-sm text-emerald-700" role="status">{t("settings.local.saved")}</p>}
      </div>
    </section>
  );
}
