"use client";
// An unknown run (/runs/<id> with no such run): served with HTTP 404 (see page.tsx). A client
// component, because not-found files receive no params: the id comes from the URL.
import Link from "next/link";
import { useParams } from "next/navigation";
import { useT } from "@/lib/i18n/client";

export default function RunNotFound() {
  const t = useT();
  const { id } = useParams<{ id: string }>();
  return (
    <div className="card space-y-2" data-testid="run-not-found">
      <h1 className="text-xl font-semibold break-words">{t("runs.run.notFound", { id: id ?? "" })}</h1>
      <p className="text-sm text-slate-600">{t("runs.run.notFoundBody")}</p>
      <Link href="/runs" className="inline-block text-indigo-700 hover:underline">
        {t("runs.run.notFoundBack")}
      </Link>
    </div>
  );
}
