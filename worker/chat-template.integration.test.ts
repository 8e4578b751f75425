// chat:load carries the chat template to the chat process: the worker's bridge validates the
// request and sends the process a `load` command with the template asked for (the run's, for a
// Qwen-template adapter). The chat process here is a stand-in executable that records the lines it
// receives; tuneboard_trainer's own handling of the template is tests/test_chat_template.py's.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Env } from "@/lib/env";
import { ChatBridge } from "./chat-bridge";

let base: string;
let record: string;
let env: Env;

beforeAll(() => {
  base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-chat-template-")));
  record = path.join(base, "received.jsonl");
  for (const d of ["models/qwen-base", "runs/run-7"]) fs.mkdirSync(path.join(base, d), { recursive: true });
  fs.writeFileSync(path.join(base, "models/qwen-base/config.json"), "{}");
  fs.writeFileSync(path.join(base, "runs/run-7/adapter_config.json"), "{}");
  const python = path.join(base, "python");
  fs.writeFileSync(python, `#!/bin/sh\necho '{"type":"ready"}'\nwhile IFS= read -r line; do printf '%s\\n' "$line" >> '${record}'; done\n`, { mode: 0o755 });
  env = { python, root: base, modelRoots: [path.join(base, "models")], runsDir: path.join(base, "runs") } as unknown as Env;
});

afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

async function received(): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 200 && !fs.existsSync(record); i++) await new Promise((r) => setTimeout(r, 25));
  return fs.readFileSync(record, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("chat:load → the chat process", () => {
  it("passes the template through", async () => {
    const handlers = new Map<string, (raw: unknown) => void>();
    const socket = { on: (ev: string, fn: (raw: unknown) => void) => handlers.set(ev, fn), emit: () => {} };
    const bridge = new ChatBridge(env, socket as never, () => {});
    try {
      handlers.get("chat:load")!({ modelPath: "qwen-base", adapterPaths: ["run-7"], template: "qwen" });
      const [load] = await received();
      expect(load).toEqual({
        type: "load",
        model_path: path.join(base, "models/qwen-base"),
        adapter_paths: [path.join(base, "runs/run-7")],
        template: "qwen",
      });
    } finally {
      bridge.close();
    }
  });
});
