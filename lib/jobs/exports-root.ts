// Where Export writes model folders: TUNEBOARD_EXPORTS_DIR (validated by lib/env.ts, default
// data/exports), relative to the repository root like the other folders.
import { env } from "@/lib/env";

export function exportsRoot(): string {
  return env().exportsDir;
}
