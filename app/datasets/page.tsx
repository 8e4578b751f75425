import Link from "next/link";
import { env } from "@/lib/env";
import { listDatasets, loadDataset } from "@/lib/datasets/registry";
import { IdentityForm } from "@/components/IdentityForm";
import { isDatasetError } from "@/lib/datasets/errors";

export const dynamic = "force-dynamic";

async function Preview({ name }: { name: string }) {
  try {
    const ds = await loadDataset(env().dataDir, name);
    return (
      <div className="card">
        <h2 className="mb-2 font-semibold">
          {name}: first {Math.min(10, ds.records.length)} of {ds.records.length} records
        </h2>
        <table className="w-full text-left text-sm">
          <thead className="text-slate-500">
            <tr><th className="p-1">#</th><th className="p-1">Prompt</th><th className="p-1">Answer</th></tr>
          </thead>
          <tbody>
            {ds.records.slice(0, 10).map((r, i) => {
              const answer = r.messages.at(-1);
              const prompt = r.messages.at(-2);
              const earlier = Math.max(0, r.messages.length - 2);
              return (
                <tr key={i} className="border-t border-slate-100 align-top">
                  <td className="p-1 text-slate-500">{i}</td>
                  <td className="whitespace-pre-wrap p-1">
                    {r.system ? <span className="block text-xs text-slate-500">system: {r.system}</span> : null}
                    {earlier > 0 ? <span className="block text-xs text-slate-500">({earlier} earlier turns)</span> : null}
                    {prompt?.content}
                  </td>
                  <td className="whitespace-pre-wrap p-1">{answer?.content}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    );
  } catch (err) {
    if (isDatasetError(err)) return <p className="card text-sm text-red-700" role="alert">{err.message}</p>;
    throw err;
  }
}

export default async function DatasetsPage({ searchParams }: { searchParams: Promise<{ preview?: string }> }) {
  const { preview } = await searchParams;
  const datasets = await listDatasets(env().dataDir);
  const templates = datasets.filter((d) => d.hasPlaceholders).map((d) => d.name);
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Datasets</h1>
      <table className="card w-full text-left text-sm" data-testid="dataset-list">
        <thead className="text-slate-500">
          <tr><th className="p-2">Name</th><th className="p-2">File</th><th className="p-2">Format</th><th className="p-2">Records</th><th className="p-2" /></tr>
        </thead>
        <tbody>
          {datasets.map((d) => (
            <tr key={d.name} className="border-t border-slate-100" data-testid={`dataset-${d.name}`}>
              <td className="p-2 font-medium">
                {d.name}
                {d.hasPlaceholders && <span className="ml-2 rounded bg-amber-100 px-1.5 text-xs text-amber-800">template</span>}
              </td>
              <td className="p-2 font-mono text-xs">{d.fileName}</td>
              <td className="p-2">{d.formatting}</td>
              <td className="p-2">{d.error ? <span className="text-red-700">{d.error}</span> : d.records}</td>
              <td className="p-2"><Link className="text-indigo-700 hover:underline" href={`/datasets?preview=${encodeURIComponent(d.name)}`}>Preview</Link></td>
            </tr>
          ))}
        </tbody>
      </table>
      {templates.length > 0 && <IdentityForm templates={templates} />}
      {preview && <Preview name={preview} />}
    </div>
  );
}
