import type { Metadata } from "next";
import Link from "next/link";
import "./globals.css";
import { getLocale } from "@/lib/i18n/server";
import { makeT, type MessageKey } from "@/lib/i18n/translate";
import { HTML_LANG } from "@/lib/i18n/locales";
import { I18nProvider } from "@/lib/i18n/client";
import { LocaleSwitch } from "@/components/LocaleSwitch";
import { NavLinks } from "@/components/NavLinks";
import { env } from "@/lib/env";

export const metadata: Metadata = {
  title: "Tuneboard",
  description: "Fine-tune language models with LoRA: datasets, training queue, live loss, chat.",
};

const NAV: { href: string; label: MessageKey }[] = [
  { href: "/train", label: "common.nav.train" },
  { href: "/runs", label: "common.nav.runs" },
  { href: "/compare", label: "common.nav.compare" },
  { href: "/datasets", label: "common.nav.datasets" },
  { href: "/chat", label: "common.nav.chat" },
  { href: "/evaluate", label: "common.nav.evaluate" },
  { href: "/workers", label: "common.nav.workers" },
  { href: "/settings", label: "common.nav.settings" },
];

export default async function RootLayout({ children }: { children: React.ReactNode }) {
  const locale = await getLocale();
  const t = makeT(locale);
  return (
    <html lang={HTML_LANG[locale]}>
      <body className="min-h-screen font-sans">
        <I18nProvider locale={locale}>
          {/* Keyboard users skip the navigation with the first Tab. */}
          <a
            href="#main"
            className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:shadow"
          >
            {t("common.skip")}
          </a>
          <header className="border-b border-slate-200 bg-white">
            <nav className="mx-auto flex max-w-6xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3" aria-label={t("common.nav.main")}>
              <Link href="/" className="text-lg font-semibold text-indigo-700">
                Tuneboard
              </Link>
              <NavLinks items={NAV.map((n) => ({ href: n.href, label: t(n.label) }))} />
              <LocaleSwitch />
              {/* Token mode: /logout (served by server.ts) ends the session. */}
              {env().TUNEBOARD_TOKEN ? (
                <a href="/logout" className="text-sm text-slate-600 hover:underline">
                  {t("auth.logout.submit")}
                </a>
              ) : null}
            </nav>
          </header>
          <main id="main" tabIndex={-1} className="mx-auto max-w-6xl px-4 py-6 focus:outline-none">{children}</main>
        </I18nProvider>
      </body>
    </html>
  );
}
