// Any address that matches no page: HTTP 404, in the user's language, with a way back.
import Link from "next/link";
import { getT } from "@/lib/i18n/server";

export default async function NotFound() {
  const t = await getT();
  return (
    <div className="card space-y-2" data-testid="not-found">
      <h1 className="text-xl font-semibold">{t("common.notFound.title")}</h1>
      <p className="text-sm text-slate-600">{t("common.notFound.body")}</p>
      <Link href="/" className="inline-block text-indigo-700 hover:underline">
        {t("common.notFound.home")}
      </Link>
    </div>
  );
}
