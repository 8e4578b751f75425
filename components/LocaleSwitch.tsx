"use client";
// Language switch in the header: remembers the choice in a cookie and re-renders the server
// components in the new language without a full reload.
import { useRouter } from "next/navigation";
import { useTransition } from "react";
import { useLocale, useT } from "@/lib/i18n/client";
import { LOCALE_COOKIE, isLocale } from "@/lib/i18n/locales";

const NAMES = { en: "English", zh: "中文" } as const;

export function LocaleSwitch() {
  const locale = useLocale();
  const t = useT();
  const router = useRouter();
  const [pending, startTransition] = useTransition();
  return (
    <label className="ml-auto flex items-center gap-2 text-sm text-slate-600">
      <span className="sr-only">{t("common.lang.label")}</span>
      <select
        className="rounded border border-slate-300 bg-white px-2 py-1"
        value={locale}
        disabled={pending}
        aria-label={t("common.lang.label")}
        data-testid="locale-switch"
        onChange={(e) => {
          const next = e.target.value;
          if (!isLocale(next)) return;
          document.cookie = `${LOCALE_COOKIE}=${next}; path=/; max-age=31536000; samesite=lax`;
          startTransition(() => router.refresh());
        }}
      >
        {Object.entries(NAMES).map(([value, name]) => (
          <option key={value} value={value} lang={value === "zh" ? "zh-CN" : "en"}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}
