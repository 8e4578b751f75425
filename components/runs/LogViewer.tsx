"use client";
// The trainer's log with "follow": while it is on, new text scrolls into view; scrolling up to
// read turns it off, scrolling back to the bottom turns it on again.
import { useEffect, useId, useRef, useState } from "react";
import { useT } from "@/lib/i18n/client";

export function LogViewer({ text }: { text: string }) {
  const t = useT();
  const id = useId();
  const ref = useRef<HTMLPreElement>(null);
  const [follow, setFollow] = useState(true);

  useEffect(() => {
    const el = ref.current;
    if (el && follow) el.scrollTop = el.scrollHeight;
  }, [text, follow]);

  const onScroll = () => {
    const el = ref.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
    if (atBottom !== follow) setFollow(atBottom);
  };

  return (
    <section aria-labelledby={`${id}-title`}>
      <div className="mb-2 flex items-center justify-between">
        <h2 id={`${id}-title`} className="font-semibold">
          {t("runs.run.logTitle")}
        </h2>
        <label className="flex items-center gap-2 text-sm text-slate-700">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} data-testid="log-follow" />
          {t("runs.run.follow")}
        </label>
      </div>
      <pre
        ref={ref}
        onScroll={onScroll}
        tabIndex={0}
        role="region"
        aria-labelledby={`${id}-title`}
        className="h-64 overflow-auto rounded bg-slate-900 p-3 font-mono text-xs whitespace-pre-wrap text-slate-100"
        data-testid="run-log"
      >
        {text || t("runs.run.logEmpty")}
      </pre>
    </section>
  );
}
