// The turn editor's rule against the trainer's own code: every conversation of up to 5 turns is
// written by turnsToRecord and read by data.py's sharegpt_to_messages (through the venv's
// python, as a training run would), and the editor must accept exactly what the trainer accepts.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { OPENAI_MESSAGES_LAYOUT } from "../schemas/dataset";
import { resolveLayout } from "./formats";
import { REPO_ROOT as ROOT } from "../test-support/temp-data";
import { conversationLayout, turnsToRecord, validateTurns, type ConversationLayout, type TurnRole } from "./turns";

// Reads {columns, tags, records} on stdin, prints one verdict per record: true (accepted) or false.
const SCRIPT = `
import json, sys
from tuneboard_trainer.data import DEFAULT_COLUMNS, DEFAULT_TAGS, DataError, sharegpt_to_messages
job = json.load(sys.stdin)
columns = {**DEFAULT_COLUMNS["sharegpt"], **job["columns"]}
tags = {**DEFAULT_TAGS, **job["tags"]}
out = []
for i, rec in enumerate(job["records"]):
    try:
        sharegpt_to_messages(rec, columns, tags, f"record {i}")
        out.append(True)
    except DataError:
        out.append(False)
print(json.dumps(out))
`;

function trainerVerdicts(entry: { columns?: Record<string, string>; tags?: Record<string, string> }, records: unknown[]): boolean[] {
  const r = spawnSync(path.join(ROOT, ".venv", "bin", "python"), ["-c", SCRIPT], {
    cwd: ROOT,
    input: JSON.stringify({ columns: entry.columns ?? {}, tags: entry.tags ?? {}, records }),
    env: { ...process.env, PYTHONPATH: path.join(ROOT, "worker", "trainer") },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as boolean[];
}

const CONTENT: Record<TurnRole, string> = { system: "s", user: "u", assistant: "a", observation: "o", function: '{"name": "f", "arguments": {}}' };

function sequences(roles: readonly TurnRole[], maxLen: number): TurnRole[][] {
  const all: TurnRole[][] = [];
  let level: TurnRole[][] = [[]];
  for (let len = 1; len <= maxLen; len++) {
    level = level.flatMap((s) => roles.map((r) => [...s, r]));
    all.push(...level);
  }
  return all;
}

function compare(entry: { formatting: "sharegpt"; columns?: Record<string, string>; tags?: Record<string, string> }, roles: readonly TurnRole[]) {
  const cl = conversationLayout(resolveLayout({ file_name: "x.json", ...entry }, { name: "t", field: "record" })) as ConversationLayout;
  const seqs = sequences(roles, 5);
  const docs = seqs.map((seq) => ({ system: null, turns: seq.map((role) => ({ role, content: CONTENT[role], source: null })) }));
  const trainer = trainerVerdicts(entry, docs.map((d) => turnsToRecord(null, d, cl)));
  const mismatches = seqs.filter((seq, i) => (validateTurns(docs[i]!, cl).length === 0) !== trainer[i]).map((s) => s.join(","));
  expect(mismatches).toEqual([]);
  expect(trainer.filter(Boolean).length).toBeGreaterThan(0);
}

describe("the turn rule agrees with the trainer (data.py)", () => {
  it("sharegpt with the default tags, all five roles", () => {
    compare({ formatting: "sharegpt" }, ["system", "user", "assistant", "observation", "function"]);
  }, 120_000);

  it("OpenAI messages", () => {
    compare({ formatting: "sharegpt", columns: { ...OPENAI_MESSAGES_LAYOUT.columns }, tags: { ...OPENAI_MESSAGES_LAYOUT.tags } }, ["system", "user", "assistant"]);
  }, 120_000);
});
