"use client";
// The header's page links; the current page is marked (aria-current) for screen readers and shown bold.
import Link from "next/link";
import { usePathname } from "next/navigation";

export function NavLinks({ items }: { items: { href: string; label: string }[] }) {
  const pathname = usePathname();
  return (
    <>
      {items.map((n) => {
        const current = pathname === n.href || pathname.startsWith(`${n.href}/`);
        return (
          <Link
            key={n.href}
            href={n.href}
            aria-current={current ? "page" : undefined}
            className={`text-sm hover:text-slate-900 ${current ? "font-semibold text-slate-900" : "text-slate-600"}`}
          >
            {n.label}
          </Link>
        );
      })}
    </>
  );
}
