import { describe, expect, it } from "vitest";
import type { z } from "zod";
import * as runConfig from "@/lib/schemas/run-config";
import * as evalConfig from "@/lib/schemas/eval-config";
import * as exportConfig from "@/lib/schemas/export-config";
import * as dataset from "@/lib/schemas/dataset";
import * as conversationEdit from "@/lib/datasets/conversation-edit";
import { configName } from "@/lib/configs/saved";
import { issueText, type ConversationLayout, type TurnIssue, type TurnIssueCode } from "@/lib/datasets/turns";
import { schemaMessages } from "./schema-messages";
import { validation } from "./messages/validation";
import { safeParseIn, translateMessage } from "./validation";

const { DEFAULT_RUN_CONFIG, runConfigSchema } = runConfig;
const HAN = /[\u4e00-\u9fff]/;

/** The zod schemas a module exports (a new schema there is covered without listing it). */
const schemasOf = (mod: Record<string, unknown>) =>
  Object.values(mod).filter((v): v is z.ZodType => typeof v === "object" && v !== null && "_zod" in v);
const untranslated = (messages: string[]) => messages.filter((m) => !HAN.test(translateMessage(m, "zh")));
const valid = { ...DEFAULT_RUN_CONFIG, model_name_or_path: "tuneboard-demo", dataset: ["identity"] };

describe("validation messages in Chinese", () => {
  it("every message the run-config and saved-config schemas can produce has a Chinese translation", () => {
    const messages = [...schemaMessages(runConfigSchema), ...schemaMessages(configName)];
    // The walk finds the messages (guards against it silently finding none).
    expect(messages).toContain("learning rate must be > 0");
    expect(messages).toContain("GPUs must be ≥ 0");
    expect(messages.length).toBeGreaterThan(50);
    expect(untranslated(messages), "add these to lib/i18n/messages/validation.ts").toEqual([]);
  });

  it("so does every message of the Evaluate, Export and Datasets schemas", () => {
    const messages = [evalConfig, exportConfig, dataset, conversationEdit].flatMap((mod) => schemasOf(mod).flatMap(schemaMessages));
    expect(messages).toContain("choose a finished run");
    expect(messages).toContain("model name is required");
    expect(untranslated([...new Set(messages)]), "add these to lib/i18n/messages/validation.ts").toEqual([]);
  });

  it("so does every turn issue the server reports for the turn-by-turn editor", () => {
    // A Record over the codes: a new code is a type error here until it is listed (and translated).
    const issues: Record<TurnIssueCode, TurnIssue> = {
      role_unavailable: { turn: 1, code: "role_unavailable", role: "function" },
      system_not_first: { turn: 2, code: "system_not_first" },
      expected_prompt: { turn: 2, code: "expected_prompt", expected: ["user", "observation"] },
      expected_reply: { turn: 1, code: "expected_reply", expected: ["assistant"] },
      empty: { turn: 0, code: "empty" },
      function_json: { turn: 3, code: "function_json" },
      no_turns: { turn: null, code: "no_turns" },
      ends_with_prompt: { turn: 2, code: "ends_with_prompt", role: "user" },
    };
    // issueText reads only the layout's tags (the stored role names).
    const layout = { tags: { user: "human", assistant: "gpt", observation: "observation", function: null, system: "system" } } as unknown as ConversationLayout;
    const messages = Object.values(issues).map((i) => `record 4: turn ${(i.turn ?? 0) + 1}: ${issueText(i, layout)}`);
    expect(untranslated(messages)).toEqual([]);
  });

  it("names the field with the form's Chinese label and keeps numbers, names and paths", () => {
    expect(translateMessage("learning rate must be > 0", "zh")).toBe("学习率必须 > 0");
    expect(translateMessage("GPUs must be ≥ 0", "zh")).toBe("GPU 数必须 ≥ 0");
    expect(translateMessage("top-p must be > 0", "zh")).toBe("Top-p 必须 > 0"); // Evaluate's label; a space after Latin
    expect(translateMessage("model path does not exist: models/nope", "zh")).toBe("模型路径不存在：models/nope");
    expect(translateMessage('dataset "identity" has no records', "zh")).toBe("数据集“identity”没有记录");
    // The Datasets page's labels and nested messages (where + what): each part translated.
    expect(translateMessage("model name is required", "zh")).toBe("请填写模型名称");
    expect(translateMessage("record 5: output: must be a non-empty string", "zh")).toBe("记录 5：output：必须是非空字符串");
    expect(translateMessage('dataset "broken": record 5: output: must be a non-empty string', "zh")).toBe(
      "数据集“broken”：记录 5：output：必须是非空字符串",
    );
    // A prefix applies only when what it wraps has a translation: no half-translated sentences.
    expect(translateMessage("record 5: something new", "zh")).toBe("record 5: something new");
    // {field} must be a known label: an unknown one is not guessed at.
    expect(translateMessage("frobnication must be > 0", "zh")).toBe("frobnication must be > 0");
  });

  it("the Chinese templates keep the English placeholders", () => {
    const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const [k, en] of Object.entries(validation.en)) expect(names(validation.zh[k as keyof typeof validation.en]), k).toEqual(names(en));
  });

  it("a parse in Chinese gives Chinese for a custom and a generic issue; English is unchanged", () => {
    const bad = { ...valid, learning_rate: "0", warmup_steps: "-1", lr_scheduler_type: "step" };
    const zh = safeParseIn(runConfigSchema, bad, "zh");
    expect(zh.success).toBe(false);
    const at = (r: typeof zh, field: string) => r.error?.issues.find((i) => i.path[0] === field)?.message;
    expect(at(zh, "learning_rate")).toBe("学习率必须 > 0");
    // Generic issues (no message in our schema) come from zod's zh-CN locale.
    expect(at(zh, "warmup_steps")).toMatch(/^数值过小/);
    expect(at(zh, "lr_scheduler_type")).toMatch(/^无效选项/);

    const en = safeParseIn(runConfigSchema, bad, "en");
    expect(at(en, "learning_rate")).toBe("learning rate must be > 0");
    expect(at(en, "warmup_steps")).toBe(runConfigSchema.safeParse(bad).error?.issues.find((i) => i.path[0] === "warmup_steps")?.message);
    expect(safeParseIn(runConfigSchema, valid, "zh").success).toBe(true);
  });
});
