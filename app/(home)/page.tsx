// Home: what the app is for, the four steps of the workflow, and the latest runs.
import Link from "next/link";
import { homeSummary } from "@/lib/data/home";
import { getT } from "@/lib/i18n/server";
import type { MessageKey } from "@/lib/i18n/translate";
import { jobNumber } from "@/lib/jobs/job-number";
import { StatusBadge } from "@/components/StatusBadge";

export const dynamic = "force-dynamic";

const STEPS: { href: string; key: "datasets" | "train" | "runs" | "chat" }[] = [
  { href: "/datasets", key: "datasets" },
  { href: "/train", key: "train" },
  { href: "/runs", key: "runs" },
  { href: "/chat", key: "chat" },
];

export default async function Home() {
  const t = await getT();
  const { recent, count, total } = await homeSummary();
  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-semibold">{t("common.home.title")}</h1>
        <p className="mt-1 text-slate-600">{t("common.home.intro")}</p>
      </div>
      <section aria-labelledby="home-steps">
        <h2 id="home-steps" className="sr-only">
          {t("common.home.steps")}
        </h2>
        <ol className="grid gap-3 sm:grid-cols-2 lg:grid-cols-4">
          {STEPS.map((s, i) => (
            <li key={s.href}>
              <Link
                href={s.href}
                className="card block h-full hover:border-indigo-300 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
              >
                <span className="text-sm text-slate-600">{i + 1}.</span>{" "}
                <span className="font-semibold text-indigo-800">{t(`common.home.step.${s.key}` as MessageKey)}</span>
                <span className="mt-1 block text-sm text-slate-700">{t(`common.home.step.${s.key}.text` as MessageKey)}</span>
              </Link>
            </li>
          ))}
        </ol>
      </section>
      <section className="card" aria-labelledby="home-recent">
        <div className="flex flex-wrap items-baseline justify-between gap-2">
          <h2 id="home-recent" className="font-semibold">
            {t("common.home.recent")}
          </h2>
          <p className="text-sm text-slate-600" data-testid="home-counts">
            {t("common.home.counts", { running: count("running"), queued: count("queued"), total })}
          </p>
        </div>
        {recent.length === 0 ? (
          <p className="mt-2 text-sm text-slate-600">{t("common.home.noRuns")}</p>
        ) : (
          <div className="relative mt-2 overflow-x-auto">
            <table className="w-full text-left text-sm">
              <thead className="text-slate-600">
                <tr>
                  <th scope="col" className="p-2">{t("common.home.run.name")}</th>
                  <th scope="col" className="p-2">{t("common.home.run.status")}</th>
                  <th scope="col" className="p-2">{t("common.home.run.loss")}</th>
                </tr>
              </thead>
              <tbody>
                {recent.map((j) => (
                  <tr key={j.id} className="border-t border-slate-100">
                    <td className="p-2">
                      <Link href={`/runs/${j.id}`} className="text-indigo-700 hover:underline">
                        {t("common.home.runLabel", { n: jobNumber(j), name: j.name })}
                      </Link>
                    </td>
                    <td className="p-2">
                      <StatusBadge status={j.status} />
                    </td>
                    <td className="p-2 tabular-nums">{j.finalLoss?.toFixed(4) ?? t("common.none")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Link href="/runs" className="mt-3 inline-block text-sm text-indigo-700 hover:underline">
          {t("common.home.allRuns")} →
        </Link>
      </section>
    </div>
  );
}
