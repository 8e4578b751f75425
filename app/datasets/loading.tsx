import { getT } from "@/lib/i18n/server";

export default async function SegmentLoading() {
  const t = await getT();
  return (
    <div className="animate-pulse text-sm text-slate-500" aria-busy="true">
      {t("datasets.loading")}
    </div>
  );
}
