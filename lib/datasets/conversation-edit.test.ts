// Saving conversation records turn by turn, against a throwaway data folder seeded from the templates (real files, real
// lock): written in the dataset's own tags and file format, unknown keys kept, a bad order
// refused at its turn with nothing written, stale edits refused.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { addConversation, updateConversation } from "./conversation-edit";
import { readPage } from "./edit";
import { DatasetError } from "./errors";
import { registerDataset } from "./registry";
import { useTempData } from "../test-support/temp-data";
import { recordToTurns, type TurnsDoc } from "./turns";

const tmp = useTempData();
const { readText, caught } = tmp;

const RECORDS = [
  {
    id: "c0",
    conversations: [
      { from: "human", value: "Who are you?" },
      { from: "gpt", value: "I am Tuneboard.", loss: 1 },
    ],
  },
  { conversations: [{ from: "human", value: "Hi" }, { from: "gpt", value: "Hello" }] },
];

async function chat(): Promise<void> {
  await writeFile(path.join(tmp.dataDir, "chat.json"), JSON.stringify(RECORDS, null, 2));
  await registerDataset(tmp.dataDir, "chat", "chat.json", { formatting: "sharegpt" });
}

async function openRow(dataset: string, index: number) {
  const page = await readPage(tmp.dataDir, dataset, 1, 10);
  const row = page.rows[index]!;
  const turns = recordToTurns(JSON.parse(row.expected), page.conversation!);
  if (!turns.ok) throw new Error(turns.reason);
  return { row, doc: turns.doc, layout: page.conversation! };
}

describe("updateConversation", () => {
  it("saves a reply change, an added exchange and a reordering, keeping unknown keys", async () => {
    await chat();
    const { row, doc } = await openRow("chat", 0);
    const [q, a] = doc.turns;
    const edited: TurnsDoc = {
      system: doc.system,
      turns: [
        { role: "user", content: "What can you do?", source: null },
        { role: "assistant", content: "Fine-tune models.", source: null },
        q!,
        { ...a!, content: "I am Tuneboard, your trainer." },
      ],
    };
    expect(await updateConversation(tmp.dataDir, { dataset: "chat", index: 0, expected: row.expected, doc: edited })).toEqual({ index: 0 });
    const after = JSON.parse(await readText("chat.json"));
    expect(after).toEqual([
      {
        id: "c0",
        conversations: [
          { from: "human", value: "What can you do?" },
          { from: "gpt", value: "Fine-tune models." },
          { from: "human", value: "Who are you?" },
          { from: "gpt", value: "I am Tuneboard, your trainer.", loss: 1 },
        ],
      },
      RECORDS[1],
    ]);
  });

  it("refuses a bad order at the turn, naming record and turn, and writes nothing", async () => {
    await chat();
    const before = await readText("chat.json");
    const { row, doc } = await openRow("chat", 0);
    const swapped = { ...doc, turns: [doc.turns[1]!, doc.turns[0]!] };
    const err = await caught(updateConversation(tmp.dataDir, { dataset: "chat", index: 0, expected: row.expected, doc: swapped }));
    expect(err).toBeInstanceOf(DatasetError);
    expect(err).toMatchObject({ field: "turns.0", recordIndex: 0, code: "invalid_record" });
    expect(err.message).toBe('record 0: turn 1: expected "human" (user) or "observation" (observation) here: after the optional system turn, turns alternate user/assistant, starting with user');
    const odd = { ...doc, turns: [...doc.turns, { role: "user" as const, content: "More?", source: null }] };
    expect(await caught(updateConversation(tmp.dataDir, { dataset: "chat", index: 0, expected: row.expected, doc: odd }))).toMatchObject({ field: "turns.2" });
    const empty = { ...doc, turns: [] };
    expect(await caught(updateConversation(tmp.dataDir, { dataset: "chat", index: 0, expected: row.expected, doc: empty }))).toMatchObject({ field: "turns" });
    // Shape errors (the browser is untrusted) are refused at the turn too.
    const shape = await caught(updateConversation(tmp.dataDir, { dataset: "chat", index: 0, expected: row.expected, doc: { system: null, turns: [{ role: "bot", content: "x", source: null }] } }));
    expect(shape).toMatchObject({ field: "turns.0", code: "invalid_input" });
    expect(await readText("chat.json")).toBe(before);
  });

  it("refuses a stale edit, and alpaca datasets", async () => {
    await chat();
    const { row, doc } = await openRow("chat", 1);
    await updateConversation(tmp.dataDir, { dataset: "chat", index: 1, expected: row.expected, doc: { ...doc, turns: [doc.turns[0]!, { ...doc.turns[1]!, content: "Hey" }] } });
    const stale = await caught(updateConversation(tmp.dataDir, { dataset: "chat", index: 1, expected: row.expected, doc }));
    expect(stale).toMatchObject({ field: "record" });
    expect(stale.message).toContain("changed elsewhere");
    const alpaca = (await readPage(tmp.dataDir, "identity", 1, 10)).rows[0]!;
    expect(await caught(updateConversation(tmp.dataDir, { dataset: "identity", index: 0, expected: alpaca.expected, doc }))).toMatchObject({ code: "unsupported" });
  });

  it("OpenAI messages in JSONL with a system message added", async () => {
    const line = { messages: [{ role: "user", content: "2+2?" }, { role: "assistant", content: "4" }], source: "math" };
    await writeFile(path.join(tmp.dataDir, "oa.jsonl"), `${JSON.stringify(line)}\n`);
    await registerDataset(tmp.dataDir, "oa", "oa.jsonl", { formatting: "sharegpt", columns: { messages: "messages" }, tags: { role_tag: "role", content_tag: "content", user_tag: "user", assistant_tag: "assistant", system_tag: "system" } });
    const { row, doc, layout } = await openRow("oa", 0);
    expect(layout).toMatchObject({ messages: "messages", roleKey: "role", systemColumn: null });
    await updateConversation(tmp.dataDir, { dataset: "oa", index: 0, expected: row.expected, doc: { ...doc, turns: [{ role: "system", content: "Math tutor.", source: null }, ...doc.turns] } });
    expect(await readText("oa.jsonl")).toBe(`${JSON.stringify({ messages: [{ role: "system", content: "Math tutor." }, ...line.messages], source: "math" })}\n`);
    // This entry's tags define no function role.
    const fn = await caught(updateConversation(tmp.dataDir, { dataset: "oa", index: 0, expected: (await openRow("oa", 0)).row.expected, doc: { system: null, turns: [{ role: "user", content: "x", source: null }, { role: "function", content: "{}", source: null }] } }));
    expect(fn).toMatchObject({ field: "turns.1" });
    expect(fn.message).toContain('no "function" role');
  });

  it("custom tags and a system column", async () => {
    await writeFile(path.join(tmp.dataDir, "ada.json"), JSON.stringify([{ dialog: [{ speaker: "customer", text: "Hi" }, { speaker: "agent", text: "Hello" }] }]));
    await registerDataset(tmp.dataDir, "ada", "ada.json", {
      formatting: "sharegpt",
      columns: { messages: "dialog", system: "persona" },
      tags: { role_tag: "speaker", content_tag: "text", user_tag: "customer", assistant_tag: "agent" },
    });
    const { row, doc } = await openRow("ada", 0);
    expect(doc.system).toBe("");
    await updateConversation(tmp.dataDir, { dataset: "ada", index: 0, expected: row.expected, doc: { ...doc, system: "You are Ada." } });
    expect(JSON.parse(await readText("ada.json"))).toEqual([{ dialog: [{ speaker: "customer", text: "Hi" }, { speaker: "agent", text: "Hello" }], persona: "You are Ada." }]);
  });
});

describe("addConversation", () => {
  it("appends a record in the dataset's tags; sources from the browser point at nothing", async () => {
    await chat();
    const doc: TurnsDoc = { system: null, turns: [{ role: "user", content: "New?", source: 0 }, { role: "assistant", content: "Yes.", source: 1 }] };
    expect(await addConversation(tmp.dataDir, { dataset: "chat", doc })).toEqual({ index: 2 });
    expect(JSON.parse(await readText("chat.json"))[2]).toEqual({ conversations: [{ from: "human", value: "New?" }, { from: "gpt", value: "Yes." }] });
    const bad = await caught(addConversation(tmp.dataDir, { dataset: "chat", doc: { system: null, turns: [{ role: "user", content: "Only a question", source: null }] } }));
    expect(bad).toMatchObject({ field: "turns.0", recordIndex: 3 });
    expect(JSON.parse(await readText("chat.json"))).toHaveLength(3);
  });
});
