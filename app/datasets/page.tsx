import Link from "next/link";
import { env } from "@/lib/env";
import { getT } from "@/lib/i18n/server";
import { listDatasets } from "@/lib/datasets/registry";
import { isDatasetError } from "@/lib/datasets/errors";
import { IMPORT_MAX_BYTES } from "@/lib/datasets/import";
import { IdentityForm } from "@/components/IdentityForm";
import { DatasetPreview } from "@/components/datasets/DatasetPreview";
import { ImportForm } from "@/components/datasets/ImportForm";

export const dynamic = "force-dynamic";

export default async function DatasetsPage({ searchParams }: { searchParams: Promise<{ preview?: string; page?: string }> }) {
  const { preview, page } = await searchParams;
  const t = await getT();
  const datasets = await listDatasets(env().dataDir);
  const templates = datasets.filter((d) => d.hasPlaceholders).map((d) => d.name);
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">{t("datasets.title")}</h1>
      <div className="card relative overflow-x-auto p-0">
        <table className="w-full text-left text-sm" data-testid="dataset-list">
          <caption className="sr-only">{t("datasets.list.caption")}</caption>
          <thead className="text-slate-500">
            <tr>
              <th className="p-2">{t("datasets.list.name")}</th>
              <th className="p-2">{t("datasets.list.file")}</th>
              <th className="p-2">{t("datasets.list.format")}</th>
              <th className="p-2">{t("datasets.list.kind")}</th>
              <th className="p-2">{t("datasets.list.records")}</th>
              <th className="p-2">
                <span className="sr-only">{t("datasets.list.actions")}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {datasets.map((d) => (
              <tr key={d.name} className={`border-t border-slate-100 ${d.name === preview ? "bg-indigo-50/60" : ""}`} data-testid={`dataset-${d.name}`}>
                <td className="p-2 font-medium">
                  {d.name}
                  {d.hasPlaceholders && <span className="ml-2 rounded bg-amber-100 px-1.5 text-xs text-amber-800">{t("datasets.list.template")}</span>}
                </td>
                <td className="p-2 font-mono text-xs">{d.fileName}</td>
                <td className="p-2">{d.formatting}</td>
                <td className="p-2" data-testid={`dataset-${d.name}-kind`}>
                  {t(`datasets.kind.${d.kind}`)}
                </td>
                <td className="p-2" data-testid={`dataset-${d.name}-records`}>
                  {d.error ? <span className="text-red-700">{d.error}</span> : d.records}
                </td>
                <td className="p-2">
                  <Link
                    className="text-indigo-700 hover:underline"
                    href={`/datasets?preview=${encodeURIComponent(d.name)}`}
                    aria-label={t("datasets.list.previewLabel", { name: d.name })}
                    aria-current={d.name === preview ? "true" : undefined}
                  >
                    {t("datasets.list.preview")}
                  </Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {datasets.length === 0 && <p className="p-3 text-sm text-slate-600">{t("datasets.list.empty")}</p>}
      </div>
      {preview && <Preview name={preview} page={page} />}
      <section className="card space-y-2" aria-labelledby="import-title">
        <h2 id="import-title" className="font-semibold">{t("datasets.import.title")}</h2>
        <ImportForm maxBytes={IMPORT_MAX_BYTES} />
      </section>
      {templates.length > 0 && <IdentityForm templates={templates} />}
    </div>
  );
}

async function Preview({ name, page }: { name: string; page: string | undefined }) {
  try {
    return await DatasetPreview({ name, page: Number(page ?? "1") || 1 });
  } catch (err) {
    if (isDatasetError(err)) {
      return (
        <p className="card text-sm text-red-700" role="alert">
          {err.message}
        </p>
      );
    }
    throw err;
  }
}
