// server.ts's entry to the OpenAI-compatible API: the process's database, roots and realtime hub.
import type { IncomingMessage, ServerResponse } from "node:http";
import { db } from "@/lib/db";
import { env } from "@/lib/env";
import { getRealtime } from "@/lib/realtime/registry";
import { handleApiRequest } from "./http-handler";

/** True for the paths the API owns (they bypass the dashboard login: API keys apply instead). */
export const isApiPath = (url: string | undefined) => new URL(url ?? "/", "http://localhost").pathname.startsWith("/v1/");

export function serveApi(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const config = env();
  return handleApiRequest(req, res, { db: db(), modelRoots: config.modelRoots, runsDir: config.runsDir, apiChat: getRealtime()?.apiChat });
}
