import { Loading } from "@/components/Loading";
import { getT } from "@/lib/i18n/server";

export default async function SegmentLoading() {
  const t = await getT();
  return <Loading what={t("settings.loading")} />;
}
