// The turn editor's conversion (record ↔ turns) and rule, for sharegpt with default and custom
// tags and OpenAI messages. The rule is also checked against the registry's own validation
// (parseSharegpt), which the server runs after it: what the editor accepts must pass there too.
import { describe, expect, it } from "vitest";
import { OPENAI_MESSAGES_LAYOUT, type DatasetEntry } from "../schemas/dataset";
import { parseSharegpt, resolveLayout } from "./formats";
import {
  availableRoles,
  conversationLayout,
  recordToTurns,
  turnIssuesOf,
  turnsDocSchema,
  turnsToRecord,
  validateTurns,
  type ConversationLayout,
  type Turn,
  type TurnsDoc,
} from "./turns";

const ctx = { name: "t", field: "record" };
const layoutOf = (entry: Omit<DatasetEntry, "file_name">) => resolveLayout({ file_name: "x.json", ...entry }, ctx);
const cl = (entry: Omit<DatasetEntry, "file_name">) => conversationLayout(layoutOf(entry)) as ConversationLayout;

const SHAREGPT = cl({ formatting: "sharegpt" });
// LLaMA-Factory's README example of custom tags, with a system column mapped.
const CUSTOM_ENTRY = {
  formatting: "sharegpt" as const,
  columns: { messages: "dialog", system: "persona" },
  tags: { role_tag: "speaker", content_tag: "text", user_tag: "customer", assistant_tag: "agent" },
};
const CUSTOM = cl(CUSTOM_ENTRY);
const OPENAI = cl({ ...OPENAI_MESSAGES_LAYOUT, columns: { ...OPENAI_MESSAGES_LAYOUT.columns }, tags: { ...OPENAI_MESSAGES_LAYOUT.tags } });

const doc = (turns: [Turn["role"], string][], system: string | null = null): TurnsDoc => ({
  system,
  turns: turns.map(([role, content]) => ({ role, content, source: null })),
});

function toTurns(record: unknown, layout: ConversationLayout): TurnsDoc {
  const r = recordToTurns(record, layout);
  if (!r.ok) throw new Error(r.reason);
  return r.doc;
}

describe("layout", () => {
  it("is null for alpaca and lists only the roles the tags define", () => {
    expect(conversationLayout(layoutOf({}))).toBeNull();
    expect(availableRoles(SHAREGPT)).toEqual(["system", "user", "assistant", "observation", "function"]);
    // A tags object replaces every default: the custom entry has no system/observation/function tag.
    expect(availableRoles(CUSTOM)).toEqual(["user", "assistant"]);
    expect(CUSTOM).toMatchObject({ messages: "dialog", roleKey: "speaker", contentKey: "text", systemColumn: "persona" });
    expect(availableRoles(OPENAI)).toEqual(["system", "user", "assistant"]);
  });
});

describe("record ↔ turns", () => {
  it("sharegpt with default tags: a leading system message is turn 0, and the round trip is exact", () => {
    const record = {
      id: 7,
      conversations: [
        { from: "system", value: "Be brief." },
        { from: "human", value: "Hi" },
        { from: "gpt", value: "Hello" },
      ],
      source: "web",
    };
    const d = toTurns(record, SHAREGPT);
    expect(d).toEqual({
      system: null,
      turns: [
        { role: "system", content: "Be brief.", source: 0 },
        { role: "user", content: "Hi", source: 1 },
        { role: "assistant", content: "Hello", source: 2 },
      ],
    });
    const back = turnsToRecord(record, d, SHAREGPT);
    expect(JSON.stringify(back)).toBe(JSON.stringify(record));
  });

  it("custom tags and a system column: written back in the dataset's own keys and tags", () => {
    const record = { persona: "You are Ada.", dialog: [{ speaker: "customer", text: "Who are you?" }, { speaker: "agent", text: "Ada." }] };
    const d = toTurns(record, CUSTOM);
    expect(d.system).toBe("You are Ada.");
    expect(d.turns.map((t) => t.role)).toEqual(["user", "assistant"]);
    const edited: TurnsDoc = {
      system: "You are Ada, a helper.",
      turns: [...d.turns, { role: "user", content: "Thanks", source: null }, { role: "assistant", content: "Any time.", source: null }],
    };
    const back = turnsToRecord(record, edited, CUSTOM);
    expect(back).toEqual({
      persona: "You are Ada, a helper.",
      dialog: [
        { speaker: "customer", text: "Who are you?" },
        { speaker: "agent", text: "Ada." },
        { speaker: "customer", text: "Thanks" },
        { speaker: "agent", text: "Any time." },
      ],
    });
    expect(Object.keys(back)).toEqual(["persona", "dialog"]);
    // The registry reads it back as the same conversation, system prompt from the column.
    expect(parseSharegpt(back, 0, layoutOf(CUSTOM_ENTRY), ctx)).toMatchObject({ system: "You are Ada, a helper.", messages: [{ role: "user" }, { role: "assistant" }, { role: "user" }, { role: "assistant", content: "Any time." }] });
  });

  it("an empty system prompt adds no column where there was none, and clears one that was there", () => {
    const bare = { dialog: [{ speaker: "customer", text: "Q" }, { speaker: "agent", text: "A" }] };
    const d = toTurns(bare, CUSTOM);
    expect(d.system).toBe("");
    expect(turnsToRecord(bare, d, CUSTOM)).toEqual(bare);
    const nulled = { ...bare, persona: null };
    expect(turnsToRecord(nulled, toTurns(nulled, CUSTOM), CUSTOM)).toEqual(nulled);
    const set = { ...bare, persona: "P" };
    expect(turnsToRecord(set, { ...toTurns(set, CUSTOM), system: "" }, CUSTOM)).toEqual({ ...bare, persona: "" });
  });

  it("OpenAI messages: system as the first message, added and removed as a turn", () => {
    const record = { messages: [{ role: "user", content: "2+2?" }, { role: "assistant", content: "4" }] };
    const d = toTurns(record, OPENAI);
    expect(d).toEqual({ system: null, turns: [{ role: "user", content: "2+2?", source: 0 }, { role: "assistant", content: "4", source: 1 }] });
    const withSystem = turnsToRecord(record, { ...d, turns: [{ role: "system", content: "Math tutor.", source: null }, ...d.turns] }, OPENAI);
    expect(withSystem).toEqual({ messages: [{ role: "system", content: "Math tutor." }, ...record.messages] });
    const again = toTurns(withSystem, OPENAI);
    expect(turnsToRecord(withSystem, { ...again, turns: again.turns.slice(1) }, OPENAI)).toEqual(record);
  });

  it("keeps unknown keys of the record and of each message, through edits and reordering", () => {
    const record = {
      uid: "a1",
      conversations: [
        { from: "human", value: "Q1", lang: "en" },
        { loss: 0, from: "gpt", value: "A1" },
        { from: "human", value: "Q2" },
        { from: "gpt", value: "A2", weight: 2 },
      ],
      meta: { tags: ["x"] },
    };
    const d = toTurns(record, SHAREGPT);
    // Swap the two exchanges and change a reply: each message's own keys travel with it.
    const turns = [d.turns[2]!, { ...d.turns[3]!, content: "A2!" }, d.turns[0]!, d.turns[1]!];
    const back = turnsToRecord(record, { ...d, turns }, SHAREGPT);
    expect(back).toEqual({
      uid: "a1",
      conversations: [
        { from: "human", value: "Q2" },
        { from: "gpt", value: "A2!", weight: 2 },
        { from: "human", value: "Q1", lang: "en" },
        { loss: 0, from: "gpt", value: "A1" },
      ],
      meta: { tags: ["x"] },
    });
    expect(Object.keys(back)).toEqual(["uid", "conversations", "meta"]);
    expect(Object.keys((back.conversations as object[])[3]!)).toEqual(["loss", "from", "value"]);
    expect(record.conversations[1]).toEqual({ loss: 0, from: "gpt", value: "A1" }); // the input is not mutated
  });

  it("says why a record cannot be edited turn by turn", () => {
    const reason = (record: unknown, layout = SHAREGPT) => {
      const r = recordToTurns(record, layout);
      return r.ok ? null : r.reason;
    };
    expect(reason([1])).toBe("the record is not an object");
    expect(reason({ conversations: "[]" })).toBe('"conversations" is not a list');
    expect(reason({ conversations: ["hi"] })).toBe("conversations[0] is not an object");
    expect(reason({ conversations: [{ from: "bot", value: "x" }] })).toBe('conversations[0].from is "bot", which no tag names');
    expect(reason({ messages: [{ role: "assistant", content: null, tool_calls: [] }] }, OPENAI)).toBe("messages[0].content is not text");
    expect(reason({ conversations: [{ from: "human", value: "a" }, { from: "system", value: "b" }] })).toBe("conversations[1] is a system message after the first");
    expect(reason({ persona: 3, dialog: [] }, CUSTOM)).toBe('"persona" is not text');
    // Observation/function exist only where the tags define them.
    expect(reason({ dialog: [{ speaker: "observation", text: "{}" }] }, CUSTOM)).toContain("which no tag names");
  });
});

describe("the rule", () => {
  const issues = (d: TurnsDoc, layout = SHAREGPT) => validateTurns(d, layout).map((i) => [i.turn, i.code]);

  it("accepts what the trainer accepts", () => {
    expect(issues(doc([["user", "a"], ["assistant", "b"]]))).toEqual([]);
    expect(issues(doc([["system", ""], ["user", "a"], ["assistant", "b"]]))).toEqual([]);
    expect(issues(doc([["user", "a"], ["function", '{"name": "f", "arguments": {}}'], ["observation", "42"], ["assistant", "b"]]))).toEqual([]);
  });

  it("names the turn at fault", () => {
    expect(issues(doc([["assistant", "a"], ["user", "b"]]))).toEqual([[0, "expected_prompt"]]);
    expect(issues(doc([["user", "a"], ["user", "b"], ["assistant", "c"]]))).toEqual([[1, "expected_reply"]]);
    expect(issues(doc([["system", "s"], ["user", "a"], ["assistant", "b"], ["assistant", "c"]]))).toEqual([[3, "expected_prompt"]]);
    expect(issues(doc([["user", "a"], ["assistant", "b"], ["user", "c"]]))).toEqual([[2, "ends_with_prompt"]]);
    expect(issues(doc([["user", "a"], ["system", "s"], ["assistant", "b"]]))).toEqual([[1, "system_not_first"]]);
    expect(issues(doc([["user", " "], ["assistant", "b"], ["user", "c"], ["assistant", ""]]))).toEqual([[0, "empty"], [3, "empty"]]);
    expect(issues(doc([["user", "a"], ["function", "call f"]]))).toEqual([[1, "function_json"]]);
    expect(issues(doc([]))).toEqual([[null, "no_turns"]]);
    expect(issues(doc([["system", "s"]]))).toEqual([[null, "no_turns"]]);
    // A role the custom tags do not define, and the roles offered at a position.
    expect(issues(doc([["user", "a"], ["function", "{}"]]), CUSTOM)).toEqual([[1, "role_unavailable"]]);
    expect(validateTurns(doc([["assistant", "a"], ["user", "b"]]), CUSTOM)[0]).toMatchObject({ expected: ["user"] });
    expect(validateTurns(doc([["assistant", "a"], ["user", "b"]]), SHAREGPT)[0]).toMatchObject({ expected: ["user", "observation"] });
  });

  it("zod reports each issue at ['turns', i] with its TurnIssue, in English with the dataset's tags", () => {
    const r = turnsDocSchema(SHAREGPT).safeParse(doc([["user", "a"], ["user", "b"], ["assistant", "c"]]));
    expect(r.success).toBe(false);
    if (r.success) return;
    expect(r.error.issues.map((i) => [i.path, i.message])).toEqual([
      [["turns", 1], 'expected "gpt" (assistant) or "function_call" (function) here: after the optional system turn, turns alternate user/assistant, starting with user'],
    ]);
    expect(turnIssuesOf(r.error)).toEqual([{ turn: 1, code: "expected_reply", expected: ["assistant", "function"] }]);
    const shape = turnsDocSchema(SHAREGPT).safeParse({ system: null, turns: [{ role: "bot", content: "x", source: null }] });
    expect(shape.success).toBe(false);
    if (!shape.success) expect(shape.error.issues[0]?.path).toEqual(["turns", 0, "role"]);
  });

  it("agrees with the registry's check (parseSharegpt) on every small conversation", () => {
    // Every sequence of up to 5 turns over the default roles: the editor's verdict must match
    // the registry's (which the server runs after it and which mirrors the trainer).
    const roles = ["system", "user", "assistant", "observation", "function"] as const;
    const content = { system: "s", user: "u", assistant: "a", observation: "o", function: '{"name": "f", "arguments": {}}' };
    const layout = layoutOf({ formatting: "sharegpt" });
    let seqs: (typeof roles)[number][][] = [[]];
    let checked = 0;
    for (let len = 1; len <= 5; len++) {
      seqs = seqs.flatMap((s) => roles.map((r) => [...s, r]));
      for (const seq of seqs) {
        const d = doc(seq.map((r) => [r, content[r]]));
        const editorOk = validateTurns(d, SHAREGPT).length === 0;
        let registryOk = true;
        try {
          parseSharegpt(turnsToRecord(null, d, SHAREGPT), 0, layout, ctx);
        } catch {
          registryOk = false;
        }
        expect([seq.join(","), editorOk]).toEqual([seq.join(","), registryOk]);
        checked++;
      }
    }
    expect(checked).toBe(5 + 25 + 125 + 625 + 3125);
  });
});
