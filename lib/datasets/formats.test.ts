// sharegpt / OpenAI messages / custom columns, in .json, .jsonl and .csv files, validated the way
// LLaMA-Factory reads dataset_info.json, each against a throwaway data folder seeded from the templates.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OPENAI_MESSAGES_LAYOUT } from "../schemas/dataset";
import { DatasetError } from "./errors";
import { fillIdentity } from "./identity";
import { listDatasets, loadDataset, readDataset } from "./registry";
import { createTempData, type TempData } from "../test-support/temp-data";

let tmp: TempData;
beforeEach(async () => {
  tmp = await createTempData();
});
afterEach(async () => {
  await tmp.cleanup();
});

const write = (file: string, text: string) => writeFile(path.join(tmp.dataDir, file), text);
const writeJson = (file: string, value: unknown) => write(file, JSON.stringify(value, null, 2));
const jsonl = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join("\n") + "\n";
const registry = (entries: Record<string, unknown>) => writeJson("dataset_info.json", entries);
const caught = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);
async function refusal(name: string): Promise<DatasetError> {
  const err = await caught(loadDataset(tmp.dataDir, name, "dataset"));
  expect(err).toBeInstanceOf(DatasetError);
  return err as DatasetError;
}

const turn = (from: string, value: string) => ({ from, value });
const chat = (...turns: [string, string][]) => ({ conversations: turns.map(([f, v]) => turn(f, v)) });

describe("sharegpt", () => {
  it("accepts the default tags, takes a leading system message, and normalises roles", async () => {
    await registry({ chat: { file_name: "chat.json", formatting: "sharegpt" } });
    await writeJson("chat.json", [
      chat(["system", "Be brief."], ["human", "Hi"], ["gpt", "Hello"], ["human", "Weather?"], ["function_call", '{"name": "weather", "arguments": {}}'], ["observation", "sunny"], ["gpt", "Sunny."]),
      chat(["human", "2+2?"], ["gpt", "4"]),
    ]);
    const ds = await loadDataset(tmp.dataDir, "chat");
    expect(ds.format).toBe("sharegpt");
    expect(ds.alpaca).toBeNull();
    expect(ds.records).toEqual([
      {
        system: "Be brief.",
        messages: [
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello" },
          { role: "user", content: "Weather?" },
          { role: "function", content: '{"name": "weather", "arguments": {}}' },
          { role: "observation", content: "sunny" },
          { role: "assistant", content: "Sunny." },
        ],
      },
      { messages: [{ role: "user", content: "2+2?" }, { role: "assistant", content: "4" }] },
    ]);
  });

  it("refuses a wrong role order, naming dataset, record, message index and tag", async () => {
    await registry({ chat: { file_name: "chat.json", formatting: "sharegpt" } });
    const good = chat(["human", "a"], ["gpt", "b"]);
    const records = Array.from({ length: 7 }, () => good);
    records.push(chat(["system", "s"], ["human", "a"], ["human", "again"], ["gpt", "b"]));
    await writeJson("chat.json", records);
    const err = await refusal("chat");
    expect(err.message).toBe(
      'dataset "chat": record 7: conversations[2].from: expected "gpt" at an odd position (or "function_call" for a tool call), got "human"',
    );
    expect(err).toMatchObject({ code: "invalid_record", recordIndex: 7, field: "dataset" });
  });

  it("refuses a conversation starting with the assistant, a system message later on, or an unknown role", async () => {
    await registry({ chat: { file_name: "chat.json", formatting: "sharegpt" } });
    await writeJson("chat.json", [chat(["gpt", "hi"], ["human", "x"])]);
    expect((await refusal("chat")).message).toBe(
      'dataset "chat": record 0: conversations[0].from: expected "human" at an even position (or "observation" for a tool result), got "gpt"',
    );
    await writeJson("chat.json", [chat(["human", "a"], ["gpt", "b"], ["system", "late"], ["gpt", "c"])]);
    expect((await refusal("chat")).message).toContain('record 0: conversations[2].from: expected "human" at an even position');
    await writeJson("chat.json", [chat(["human", "a"], ["bot", "b"])]);
    expect((await refusal("chat")).message).toContain('conversations[1].from: expected "gpt" at an odd position');
  });

  it("refuses a conversation that ends on a user turn, has no turns, or has empty content", async () => {
    await registry({ chat: { file_name: "chat.json", formatting: "sharegpt" } });
    await writeJson("chat.json", [chat(["human", "a"], ["gpt", "b"]), chat(["human", "a"], ["gpt", "b"], ["human", "c"])]);
    expect((await refusal("chat")).message).toBe(
      'dataset "chat": record 1: conversations: must end with a "gpt" turn (or "function_call"), but ends with "human" at conversations[2]',
    );
    await writeJson("chat.json", [chat(["system", "only a system prompt"])]);
    expect((await refusal("chat")).message).toContain("record 0: conversations: has no turns");
    await writeJson("chat.json", [chat(["human", "a"], ["gpt", "   "])]);
    expect((await refusal("chat")).message).toBe('dataset "chat": record 0: conversations[1].value: must be a non-empty string');
    await writeJson("chat.json", [{ conversations: "human: hi" }]);
    expect((await refusal("chat")).message).toContain("record 0: conversations: must be a list of messages (got a string)");
    await writeJson("chat.json", [{ messages: [] }]);
    expect((await refusal("chat")).message).toContain("record 0: conversations: must be a list of messages (it is missing)");
  });

  it("refuses a function call that is not JSON, and tools that are not a JSON list", async () => {
    await registry({ chat: { file_name: "chat.json", formatting: "sharegpt", columns: { messages: "conversations", tools: "tools" } } });
    await writeJson("chat.json", [chat(["human", "a"], ["function_call", "weather(city=Paris)"], ["observation", "x"], ["gpt", "y"])]);
    expect((await refusal("chat")).message).toContain("record 0: conversations[1].value: a function call must be JSON");
    await writeJson("chat.json", [{ ...chat(["human", "a"], ["gpt", "b"]), tools: "[{name: weather}]" }]);
    expect((await refusal("chat")).message).toBe('dataset "chat": record 0: tools: must be a JSON list of tool definitions');
    const tools = JSON.stringify([{ name: "weather", description: "d", parameters: {} }]);
    await writeJson("chat.json", [{ ...chat(["human", "a"], ["gpt", "b"]), tools }]);
    expect((await loadDataset(tmp.dataDir, "chat")).records[0]?.tools).toBe(tools);
  });
});

describe("OpenAI messages (sharegpt with OpenAI tags)", () => {
  const openai = (...turns: [string, string][]) => ({ messages: turns.map(([role, content]) => ({ role, content })) });

  it("reads role/content/user/assistant/system from a messages column", async () => {
    await registry({ oa: { file_name: "oa.jsonl", ...OPENAI_MESSAGES_LAYOUT } });
    await write("oa.jsonl", jsonl([openai(["system", "You are terse."], ["user", "Hi"], ["assistant", "Hey"])]));
    expect((await loadDataset(tmp.dataDir, "oa")).records).toEqual([
      { system: "You are terse.", messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hey" }] },
    ]);
  });

  it("names the file's own tags in errors", async () => {
    await registry({ oa: { file_name: "oa.jsonl", ...OPENAI_MESSAGES_LAYOUT } });
    await write("oa.jsonl", jsonl([openai(["user", "Hi"], ["assistant", "Hey"]), openai(["user", "a"], ["user", "b"])]));
    // The OpenAI layout sets no function_tag, so no alternative is offered.
    expect((await refusal("oa")).message).toBe('dataset "oa": record 1: messages[1].role: expected "assistant" at an odd position, got "user"');
  });

  it("like LLaMA-Factory, a tags object resets the tags it leaves out, so a partial one is refused at the entry", async () => {
    await registry({ oa: { file_name: "oa.jsonl", formatting: "sharegpt", columns: { messages: "messages" }, tags: { role_tag: "role", content_tag: "content" } } });
    await write("oa.jsonl", jsonl([openai(["user", "Hi"], ["assistant", "Hey"])]));
    const err = await refusal("oa");
    expect(err.code).toBe("invalid_registry");
    expect(err.message).toContain('dataset "oa": tags must set user_tag, assistant_tag');
  });

  it("without system_tag a leading system message is not a system prompt, so it is refused", async () => {
    const { system_tag: _, ...tags } = OPENAI_MESSAGES_LAYOUT.tags;
    await registry({ oa: { file_name: "oa.jsonl", ...OPENAI_MESSAGES_LAYOUT, tags } });
    await write("oa.jsonl", jsonl([openai(["system", "s"], ["user", "Hi"], ["assistant", "Hey"])]));
    expect((await refusal("oa")).message).toContain('record 0: messages[0].role: expected "user" at an even position, got "system"');
  });
});

describe("alpaca with custom columns", () => {
  it("maps columns, puts history pairs first and joins instruction and input", async () => {
    await registry({
      qa: { file_name: "qa.json", columns: { prompt: "q", query: "ctx", response: "a", system: "sys", history: "hist" } },
    });
    await writeJson("qa.json", [{ q: "Summarise", ctx: "Some text", a: "Short.", sys: "Be terse.", hist: [["Hi", "Hello"]] }, { q: "Just this", a: "ok" }]);
    const ds = await loadDataset(tmp.dataDir, "qa");
    expect(ds.format).toBe("alpaca");
    expect(ds.records).toEqual([
      {
        system: "Be terse.",
        messages: [
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello" },
          { role: "user", content: "Summarise\nSome text" },
          { role: "assistant", content: "Short." },
        ],
      },
      { messages: [{ role: "user", content: "Just this" }, { role: "assistant", content: "ok" }] },
    ]);
    expect(ds.alpaca?.[1]).toEqual({ instruction: "Just this", input: "", output: "ok" });
  });

  it("like LLaMA-Factory, a columns object drops the defaults it does not list", async () => {
    // No "query": the file's "input" column is not read, as the trainer would not read it.
    await registry({ qa: { file_name: "qa.json", columns: { prompt: "instruction", response: "output" } } });
    await writeJson("qa.json", [{ instruction: "i", input: "ignored", output: "o" }]);
    expect((await loadDataset(tmp.dataDir, "qa")).records[0]?.messages[0]).toEqual({ role: "user", content: "i" });
    // No "response" at all: nothing to train on, refused at the entry rather than at record 0.
    await registry({ qa: { file_name: "qa.json", columns: { prompt: "instruction", query: "input" } } });
    const err = await refusal("qa");
    expect(err).toMatchObject({ code: "invalid_registry", field: "dataset" });
    expect(err.message).toContain('dataset "qa": columns must name the "response" column');
  });

  it("names the bad history element with its file column", async () => {
    await registry({ qa: { file_name: "qa.json", columns: { prompt: "q", response: "a", history: "turns" } } });
    await writeJson("qa.json", [{ q: "x", a: "y", turns: [["a", "b"], ["c", 3]] }]);
    expect((await refusal("qa")).message).toBe('dataset "qa": record 0: turns[1][1]: must be a string');
    await writeJson("qa.json", [{ q: "x", a: "y", turns: [["a", "b", "c"]] }]);
    expect((await refusal("qa")).message).toMatch(/^dataset "qa": record 0: turns\[0\]: /);
  });
});

describe("file types", () => {
  it("reads JSONL, skipping blank lines, and names line and record of a bad line", async () => {
    await registry({ lines: { file_name: "lines.jsonl" } });
    await write("lines.jsonl", '{"instruction": "a", "output": "b"}\n\n{"instruction": "c", "output": "d"}\n');
    expect((await readDataset(tmp.dataDir, "lines")).map((r) => r.output)).toEqual(["b", "d"]);
    await write("lines.jsonl", '{"instruction": "a", "output": "b"}\n\n{"instruction": "c", "output": }\n');
    const err = await refusal("lines");
    expect(err).toMatchObject({ code: "invalid_file", recordIndex: 1 });
    expect(err.message).toBe('dataset "lines": lines.jsonl: line 3 (record 1): not valid JSON');
    await write("lines.jsonl", '{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": ""}\n');
    expect((await refusal("lines")).message).toBe('dataset "lines": record 1: output: must be a non-empty string');
  });

  it("reads alpaca CSV with quoted commas, quotes and newlines, cells as strings", async () => {
    await registry({ sheet: { file_name: "sheet.csv", columns: { prompt: "question", query: "context", response: "answer" } } });
    await write(
      "sheet.csv",
      'question,context,answer\r\n"Hello, who are you?",,"I am ""Bot"".\nNice to meet you."\r\nWhat is 2+2?,,4\r\n',
    );
    const ds = await loadDataset(tmp.dataDir, "sheet");
    expect(ds.raw).toEqual([
      { question: "Hello, who are you?", context: "", answer: 'I am "Bot".\nNice to meet you.' },
      { question: "What is 2+2?", context: "", answer: "4" },
    ]);
    expect(ds.records[0]?.messages).toEqual([
      { role: "user", content: "Hello, who are you?" },
      { role: "assistant", content: 'I am "Bot".\nNice to meet you.' },
    ]);
  });

  it("refuses a CSV row with an unquoted comma, and an empty answer cell, naming the record", async () => {
    await registry({ sheet: { file_name: "sheet.csv" } });
    await write("sheet.csv", "instruction,output\nhi,hello\nHello, world,hi there\n");
    const err = await refusal("sheet");
    expect(err).toMatchObject({ code: "invalid_file", recordIndex: 1 });
    expect(err.message).toBe('dataset "sheet": sheet.csv: line 3: record 1: has 3 fields but the header has 2 (quote a cell that contains a comma)');
    await write("sheet.csv", 'instruction,output\nhi,hello\n"multi\nline",\n');
    expect((await refusal("sheet")).message).toBe('dataset "sheet": record 1: output: must be a non-empty string');
  });

  it("refuses sharegpt in a CSV file (a cell is text, not a list of messages)", async () => {
    await registry({ sheet: { file_name: "sheet.csv", formatting: "sharegpt" } });
    await write("sheet.csv", 'conversations\n"[{""from"": ""human"", ""value"": ""hi""}]"\n');
    expect((await refusal("sheet")).message).toBe('dataset "sheet": record 0: conversations: must be a list of messages (got a string)');
  });

  it("refuses other file types by name", async () => {
    await registry({ pq: { file_name: "data.parquet" } });
    await write("data.parquet", "");
    expect(await refusal("pq")).toMatchObject({ code: "unsupported", message: expect.stringContaining("only .json, .jsonl and .csv") });
  });
});

describe("listDatasets", () => {
  it("reports formatting and record counts for every format and file type, and each problem", async () => {
    await registry({
      identity: { file_name: "identity.json" },
      chat: { file_name: "chat.jsonl", formatting: "sharegpt" },
      oa: { file_name: "oa.json", ...OPENAI_MESSAGES_LAYOUT },
      sheet: { file_name: "sheet.csv" },
      broken: { file_name: "broken.json", formatting: "sharegpt" },
    });
    await write("chat.jsonl", jsonl([chat(["human", "a"], ["gpt", "b"]), chat(["human", "c"], ["gpt", "d"]), chat(["human", "e"], ["gpt", "f"])]));
    await writeJson("oa.json", [{ messages: [{ role: "user", content: "a" }, { role: "assistant", content: "b" }] }]);
    await write("sheet.csv", "instruction,input,output\na,,b\nc,d,e\n");
    await writeJson("broken.json", [chat(["human", "a"], ["gpt", "b"]), chat(["human", "a"])]);
    const list = await listDatasets(tmp.dataDir);
    const byName = Object.fromEntries(list.map((d) => [d.name, d]));
    expect(byName.identity).toMatchObject({ formatting: "alpaca", records: 164, hasPlaceholders: true });
    expect(byName.identity?.error).toBeUndefined();
    expect(byName.chat).toMatchObject({ formatting: "sharegpt", records: 3, hasPlaceholders: false });
    expect(byName.chat?.error).toBeUndefined();
    expect(byName.oa).toMatchObject({ formatting: "sharegpt", records: 1 });
    expect(byName.oa?.error).toBeUndefined();
    expect(byName.sheet).toMatchObject({ fileName: "sheet.csv", formatting: "alpaca", records: 2 });
    expect(byName.sheet?.error).toBeUndefined();
    expect(byName.broken).toMatchObject({ formatting: "sharegpt", records: 2, error: expect.stringContaining("record 1: conversations: must end with") });
  });
});

describe("identity fill across formats", () => {
  it("fills a sharegpt JSONL template into a JSON copy that loads with the same layout", async () => {
    await registry({ tpl: { file_name: "tpl.jsonl", ...OPENAI_MESSAGES_LAYOUT } });
    await write("tpl.jsonl", jsonl([{ messages: [{ role: "user", content: "Who are you?" }, { role: "assistant", content: "I am {{name}}, made by {{author}}." }] }]));
    const result = await fillIdentity(tmp.dataDir, { sourceName: "tpl", name: "GreatBot", author: "Acme", newName: "tpl_filled" });
    expect(result).toEqual({ name: "tpl_filled", fileName: "tpl_filled.json", records: 1 });
    const ds = await loadDataset(tmp.dataDir, "tpl_filled");
    expect(ds.format).toBe("sharegpt");
    expect(ds.records[0]?.messages[1]?.content).toBe("I am GreatBot, made by Acme.");
    expect(JSON.parse(await readFile(path.join(tmp.dataDir, "dataset_info.json"), "utf8")).tpl_filled).toEqual({
      file_name: "tpl_filled.json",
      ...OPENAI_MESSAGES_LAYOUT,
    });
  });

  it("fills a CSV template, writing its cells as a JSON list", async () => {
    await registry({ tpl: { file_name: "tpl.csv" } });
    await write("tpl.csv", 'instruction,output\nWho are you?,"I am {{name}}, by {{author}}."\n');
    await fillIdentity(tmp.dataDir, { sourceName: "tpl", name: "GreatBot", author: "Acme", newName: "tpl_filled" });
    expect(await readDataset(tmp.dataDir, "tpl_filled")).toEqual([{ instruction: "Who are you?", input: "", output: "I am GreatBot, by Acme." }]);
  });

  it("refuses a sharegpt template with a malformed record and names it", async () => {
    await registry({ tpl: { file_name: "tpl.json", formatting: "sharegpt" } });
    await writeJson("tpl.json", [chat(["human", "Who?"], ["gpt", "{{name}}"]), chat(["human", "Who?"], ["human", "{{name}}"])]);
    const err = await caught(fillIdentity(tmp.dataDir, { sourceName: "tpl", name: "A", author: "B", newName: "out" }));
    expect(err).toMatchObject({ code: "invalid_record", recordIndex: 1, field: "sourceName" });
  });
});
