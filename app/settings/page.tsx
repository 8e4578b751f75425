// Settings: API keys for the OpenAI-compatible API (create, list by prefix, revoke) and the
// "local API without key" switch. Behind the dashboard login like every page.
import { headers } from "next/headers";
import { listApiKeys } from "@/lib/api/keys";
import { getLocalApiWithoutKey } from "@/lib/api/settings";
import { getT } from "@/lib/i18n/server";
import { ApiKeysPanel } from "@/components/settings/ApiKeysPanel";
import { toKeyView } from "@/components/settings/key-view";

export const dynamic = "force-dynamic";

export default async function SettingsPage() {
  const t = await getT();
  const [keys, localWithoutKey, h] = await Promise.all([listApiKeys(), getLocalApiWithoutKey(), headers()]);
  const apiUrl = `http://${h.get("host") ?? "127.0.0.1:3000"}/v1`;
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">{t("settings.page.title")}</h1>
      <ApiKeysPanel initialKeys={keys.map(toKeyView)} initialLocalWithoutKey={localWithoutKey} apiUrl={apiUrl} />
    </div>
  );
}
