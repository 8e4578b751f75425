import fs from "node:fs";
import path from "node:path";
import { env } from "@/lib/env";
import { listModels } from "@/lib/models";
import { db } from "@/lib/db";
import { ChatPanel } from "@/components/ChatPanel";

export const dynamic = "force-dynamic";

export default async function ChatPage({ searchParams }: { searchParams: Promise<{ run?: string }> }) {
  const { run } = await searchParams;
  const models = listModels(env().modelRoots).map((m) => ({ path: m.path, name: m.name, demo: m.demo }));
  const jobs = await db().job.findMany({ where: { status: "succeeded" }, orderBy: { id: "desc" }, take: 100 });
  const adapters = jobs
    .filter((j) => j.outputDir && fs.existsSync(path.join(j.outputDir, "adapter_config.json")))
    .map((j) => ({ runId: j.id, name: j.name, path: j.outputDir!, modelPath: j.modelPath }));
  const preselect = run ? adapters.find((a) => a.runId === Number(run)) : adapters[0];
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">Chat</h1>
      <ChatPanel models={models} adapters={adapters} initialAdapter={preselect?.path ?? null} initialModel={preselect?.modelPath ?? models[0]?.path ?? ""} />
    </div>
  );
}
