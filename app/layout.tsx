import type { Metadata } from "next";
import Link from "next/link";
import "./globals.css";

export const metadata: Metadata = {
  title: "Tuneboard",
  description: "Fine-tune language models with LoRA: datasets, training queue, live loss, chat.",
};

const NAV = [
  { href: "/train", label: "Train" },
  { href: "/runs", label: "Runs" },
  { href: "/datasets", label: "Datasets" },
  { href: "/chat", label: "Chat" },
];

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-screen font-sans">
        <header className="border-b border-slate-200 bg-white">
          <nav className="mx-auto flex max-w-6xl items-center gap-6 px-4 py-3" aria-label="Main">
            <Link href="/" className="text-lg font-semibold text-indigo-700">
              Tuneboard
            </Link>
            {NAV.map((n) => (
              <Link key={n.href} href={n.href} className="text-sm text-slate-600 hover:text-slate-900">
                {n.label}
              </Link>
            ))}
          </nav>
        </header>
        <main className="mx-auto max-w-6xl px-4 py-6">{children}</main>
      </body>
    </html>
  );
}
