import fs from "node:fs";
import path from "node:path";
import { env } from "@/lib/env";
import { listModels } from "@/lib/models";
import { succeededJobs } from "@/lib/data/runs";
import { getT } from "@/lib/i18n/server";
import { ChatPanel } from "@/components/ChatPanel";
import type { ChatTemplate } from "@/lib/chat/template";
import { runConfigSchema } from "@/lib/schemas/run-config";
import { heldOutQuestions, identityAnswerTemplates, identityOfRun } from "./identity-source";
import { headers } from "next/headers";
import { listApiModels, realOrSelf } from "@/lib/api/models";

export const dynamic = "force-dynamic";

/** The template a run trained with, from its stored config (null when unreadable). */
function runTemplate(config: string): ChatTemplate | null {
  try {
    const parsed = runConfigSchema.shape.template.safeParse((JSON.parse(config) as { template?: unknown }).template);
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export default async function ChatPage({ searchParams }: { searchParams: Promise<{ run?: string }> }) {
  const { run } = await searchParams;
  const t = await getT();
  const e = env();
  const models = listModels(e.modelRoots).map((m) => ({ path: m.path, name: m.name, demo: m.demo, template: m.templateGuess }));
  // Finished runs whose output folder holds a LoRA adapter (the worker re-checks the path on load).
  const jobs = await succeededJobs();
  const withAdapter = jobs.filter((j) => j.outputDir && fs.existsSync(path.join(j.outputDir, "adapter_config.json")));
  const adapters = withAdapter.map((j) => ({
    runId: j.id,
    name: j.name,
    path: j.outputDir!,
    modelPath: j.modelPath,
    template: runTemplate(j.config),
  }));
  const identities: Record<string, { name: string; author: string }> = {};
  await Promise.all(
    withAdapter.slice(0, 20).map(async (j) => {
      const id = await identityOfRun(e.dataDir, j.datasets);
      if (id) identities[j.outputDir!] = id;
    }),
  );
  // Model ids as the OpenAI-compatible API names them, for the Chat page's snippet.
  const apiIds: Record<string, string> = {};
  for (const m of await listApiModels({ modelRoots: e.modelRoots, runsDir: e.runsDir })) apiIds[realOrSelf(m.adapterPath ?? m.modelPath)] = m.id; // the worker reports real paths
  const host = (await headers()).get("host") ?? `127.0.0.1:${e.PORT}`;
  const preselect = run ? adapters.find((a) => a.runId === Number(run)) : adapters[0];
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-semibold">{t("chat.page.title")}</h1>
      <ChatPanel
        models={models}
        adapters={adapters}
        initialAdapter={preselect?.path ?? null}
        initialModel={preselect?.modelPath ?? models[0]?.path ?? ""}
        questions={await heldOutQuestions(e.dataDir, e.root)}
        identityAnswers={await identityAnswerTemplates(e.dataDir)}
        identities={identities}
        api={{ url: `http://${host}/v1`, ids: apiIds }}
      />
    </div>
  );
}
