"use client";
import { SegmentError } from "@/components/SegmentError";
import { useT } from "@/lib/i18n/client";

export default function ErrorBoundary(props: { error: Error & { digest?: string }; reset: () => void }) {
  const t = useT();
  return <SegmentError {...props} what={t("settings.error")} />;
}
