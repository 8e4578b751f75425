import Link from "next/link";
import { db } from "@/lib/db";
import { StatusBadge } from "@/components/StatusBadge";
import { formatDuration } from "@/lib/format/time";

export const dynamic = "force-dynamic";

export default async function RunsPage() {
  const jobs = await db().job.findMany({ orderBy: { id: "desc" }, take: 200 });
  return (
    <div className="space-y-4">
      <div className="flex items-center justify-between">
        <h1 className="text-xl font-semibold">Runs</h1>
        <Link href="/train" className="btn btn-primary">
          New run
        </Link>
      </div>
      {jobs.length === 0 ? (
        <p className="card text-sm text-slate-600">No runs yet. Start one from the Train page.</p>
      ) : (
        <table className="card w-full text-left text-sm">
          <thead className="text-slate-500">
            <tr>
              <th className="p-2">#</th>
              <th className="p-2">Name</th>
              <th className="p-2">Status</th>
              <th className="p-2">Model</th>
              <th className="p-2">Dataset</th>
              <th className="p-2">Started</th>
              <th className="p-2">Duration</th>
              <th className="p-2">Final loss</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => (
              <tr key={j.id} className="border-t border-slate-100">
                <td className="p-2">{j.id}</td>
                <td className="p-2">
                  <Link href={`/runs/${j.id}`} className="text-indigo-700 hover:underline">
                    {j.name}
                  </Link>
                </td>
                <td className="p-2"><StatusBadge status={j.status} /></td>
                <td className="p-2">{j.modelPath.split("/").at(-1)}</td>
                <td className="p-2">{j.datasets}</td>
                <td className="p-2">{j.startedAt?.toLocaleString("en-GB") ?? "—"}</td>
                <td className="p-2">
                  {j.startedAt ? formatDuration(((j.finishedAt ?? new Date()).getTime() - j.startedAt.getTime()) / 1000) : "—"}
                </td>
                <td className="p-2">{j.finalLoss?.toFixed(4) ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
