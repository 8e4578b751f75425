// Where Export writes model folders: TUNEBOARD_EXPORTS_DIR (default data/exports), relative to the
// repository root like the other folders of lib/env.ts.
import path from "node:path";
import { z } from "zod";
import { env } from "@/lib/env";

const exportsDirSchema = z.string().trim().min(1, "TUNEBOARD_EXPORTS_DIR must not be empty").default("data/exports");

export function exportsRoot(source: Record<string, string | undefined> = process.env): string {
  const parsed = exportsDirSchema.safeParse(source.TUNEBOARD_EXPORTS_DIR);
  if (!parsed.success) throw new Error(`Invalid configuration: TUNEBOARD_EXPORTS_DIR: ${parsed.error.issues[0]?.message}`);
  return path.resolve(/*turbopackIgnore: true*/ env().root, parsed.data);
}
