// The chat page's pure helpers (components/chat/*): identity scoring and inference, the saved
// conversation, and the settings form -> validated generation parameters.
import { describe, expect, it } from "vitest";
import fs from "node:fs";
import path from "node:path";
import { inferIdentity, scoreIdentity } from "@/components/chat/identity";
import { vocabularyOf } from "@/lib/chat/clean-answer";
import { DEFAULT_SETTINGS, STORAGE_KEY, historyFor, interrupted, loadSaved, save, type Turn } from "@/components/chat/store";
import { parseSettings } from "@/components/chat/settings";
import { makeT } from "@/lib/i18n/translate";
import { fillValue } from "@/lib/datasets/identity";
import { TEMPLATES_DIR } from "@/lib/test-support/temp-data";

const t = makeT("en");

describe("identity check", () => {
  it("counts answers with the name and with the author, case-insensitively, CJK included", () => {
    const s = scoreIdentity(
      [
        { question: "Who are you?", answer: "I am GREATBOT, made by Allen." },
        { question: "你是谁？", answer: "我是 Greatbot。" },
        { question: "Who made you?", answer: "Meta AI." },
      ],
      "Greatbot",
      "Allen",
      vocabularyOf(["I am Greatbot, made by Allen.", "我是 Greatbot。"]),
    );
    expect([s.total, s.withName, s.withAuthor, s.withBoth, s.clean]).toEqual([3, 2, 1, 1, 2]);
    expect(s.rows.map((r) => [r.hasName, r.hasAuthor])).toEqual([[true, true], [true, false], [false, false]]);
    expect(scoreIdentity([{ question: "q", answer: "anything" }], "", "", new Set()).withName).toBe(0); // empty never matches
  });

  it("recovers name and author from a filled copy of the real identity dataset", () => {
    const template = (JSON.parse(fs.readFileSync(path.join(TEMPLATES_DIR, "identity.json"), "utf8")) as { output: string }[]).map((r) => r.output);
    const filled = template.map((o) => fillValue(o, "Greatbot", "Allen Labs") as string);
    expect(inferIdentity(template, filled)).toEqual({ name: "Greatbot", author: "Allen Labs" });
    expect(inferIdentity(template, template)).toBeNull(); // unfilled: nothing to recover
    expect(inferIdentity(template, ["unrelated"])).toBeNull();
  });
});

describe("saved conversation", () => {
  const turn = (content: string, finish?: "stop"): Turn => ({ user: "hi", tuned: { requestId: "r" + content, content, finish } });

  it("round-trips through storage and drops corrupt entries", () => {
    const mem = new Map<string, string>();
    const storage = { getItem: (k: string) => mem.get(k) ?? null, setItem: (k: string, v: string) => void mem.set(k, v) };
    save(storage, { turns: [turn("a", "stop")], settings: DEFAULT_SETTINGS, compare: true });
    expect(loadSaved(storage)).toEqual({ turns: [turn("a", "stop")], settings: DEFAULT_SETTINGS, compare: true });
    mem.set(STORAGE_KEY, '{"turns": "nope"}');
    expect(loadSaved(storage)).toBeNull();
    mem.set(STORAGE_KEY, "{not json");
    expect(loadSaved(storage)).toBeNull();
  });

  it("marks answers cut off by a reload as stopped, and says which to stop", () => {
    const r = interrupted([turn("a", "stop"), { user: "x", tuned: { requestId: "t", content: "par" }, base: { requestId: "b", content: "" } }]);
    expect(r.requestIds).toEqual(["t", "b"]);
    expect(r.turns[1].tuned.finish).toBe("aborted");
  });

  it("builds each compare column's history from its own answers", () => {
    const turns: Turn[] = [{ user: "q1", tuned: { requestId: "1", content: "tuned" }, base: { requestId: "2", content: "base" } }];
    expect(historyFor(turns, "base", " sys ", "q2")).toEqual([
      { role: "system", content: "sys" },
      { role: "user", content: "q1" },
      { role: "assistant", content: "base" },
      { role: "user", content: "q2" },
    ]);
    expect(historyFor(turns, "tuned", "", "q2")[1]).toEqual({ role: "assistant", content: "tuned" });
  });
});

describe("generation settings", () => {
  it("defaults are LlamaBoard's, top-k and repetition penalty off", () => {
    const r = parseSettings(DEFAULT_SETTINGS, t);
    expect(r).toEqual({
      ok: true,
      params: { max_new_tokens: 1024, temperature: 0.95, top_p: 0.7, top_k: 0, repetition_penalty: 1, seed: null },
    });
  });

  it("reports each bad field with its range", () => {
    const r = parseSettings({ ...DEFAULT_SETTINGS, top_p: "0", top_k: "2.5", max_new_tokens: "", seed: "-1", repetition_penalty: "3" }, t);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual({
      top_p: "Must be a number from 0 to 1.",
      top_k: "Must be a whole number from 0 to 1000.",
      max_new_tokens: "Must be a whole number from 1 to 8192.",
      seed: "Leave empty, or a whole number from 0.",
      repetition_penalty: "Must be a number from 1 to 2.",
    });
    expect(parseSettings({ ...DEFAULT_SETTINGS, seed: "42", temperature: "0" }, t)).toMatchObject({ ok: true, params: { seed: 42, temperature: 0 } });
  });
});
