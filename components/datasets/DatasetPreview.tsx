// The selected dataset: one page of records (server-side pagination through ?page=), the inline
// editor, the epochs check and the "as the model sees it" view.
import Link from "next/link";
import { env } from "@/lib/env";
import { getT } from "@/lib/i18n/server";
import { readPage } from "@/lib/datasets/edit";
import { listModels } from "@/lib/models";
import { RENDER_TEMPLATES } from "@/lib/schemas/dataset";
import { RecordTable } from "./RecordTable";
import { EpochAdvice } from "./EpochAdvice";
import { TokenView } from "./TokenView";

export const PAGE_SIZE = 10;

export async function DatasetPreview({ name, page }: { name: string; page: number }) {
  const t = await getT();
  const e = env();
  const data = await readPage(e.dataDir, name, page, PAGE_SIZE);
  const models = listModels(e.modelRoots);
  const first = models[0];
  const preset = first?.preset?.template;
  const defaultTemplate = typeof preset === "string" && (RENDER_TEMPLATES as readonly string[]).includes(preset) ? preset : "llama3";
  const href = (p: number) => `/datasets?preview=${encodeURIComponent(name)}&page=${p}`;
  const from = data.total === 0 ? 0 : (data.page - 1) * data.pageSize;
  const to = Math.min(data.total, from + data.pageSize);

  return (
    <>
      <section className="card space-y-3" aria-labelledby="preview-title" data-testid="dataset-preview">
        <div className="flex flex-wrap items-baseline justify-between gap-2">
          <h2 id="preview-title" className="font-semibold">
            {t("datasets.preview.title", { name, from: data.total === 0 ? 0 : from, to: Math.max(0, to - 1), total: data.total })}
          </h2>
          <nav className="flex items-center gap-2 text-sm" aria-label={t("datasets.preview.pages")}>
            {data.page > 1 ? (
              <Link className="btn btn-secondary" href={href(data.page - 1)} rel="prev">
                {t("datasets.preview.prev")}
              </Link>
            ) : (
              <span className="btn btn-secondary opacity-50" aria-disabled="true">{t("datasets.preview.prev")}</span>
            )}
            <span data-testid="preview-page">{t("datasets.preview.page", { page: data.page, pages: data.pages })}</span>
            {data.page < data.pages ? (
              <Link className="btn btn-secondary" href={href(data.page + 1)} rel="next">
                {t("datasets.preview.next")}
              </Link>
            ) : (
              <span className="btn btn-secondary opacity-50" aria-disabled="true">{t("datasets.preview.next")}</span>
            )}
          </nav>
        </div>
        <RecordTable dataset={name} rows={data.rows} blank={data.blank} conversation={data.conversation} answers={data.answers} ktoTag={data.ktoTag} />
      </section>
      <EpochAdvice records={data.total} />
      <TokenView
        dataset={name}
        total={data.total}
        models={models.map((m) => ({ path: m.path, name: m.name }))}
        defaultModel={first?.path ?? ""}
        defaultTemplate={defaultTemplate}
      />
    </>
  );
}
