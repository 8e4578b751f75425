"use client";
import { SegmentError } from "@/components/SegmentError";

export default function ErrorBoundary(props: { error: Error & { digest?: string }; reset: () => void }) {
  return <SegmentError {...props} what="compare" />;
}
