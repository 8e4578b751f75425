import { describe, expect, it } from "vitest";
import { chatLoadReq } from "@/lib/schemas/socket";
import { chatTemplateFor } from "./template";

describe("chatTemplateFor", () => {
  it("uses the run's template for its adapter, the model's guess for a base model, else the tokenizer's", () => {
    expect(chatTemplateFor({ template: "llama3" }, [{ template: "qwen" }])).toBe("qwen");
    expect(chatTemplateFor({ template: "mistral" }, [])).toBe("mistral");
    expect(chatTemplateFor({ template: null }, [])).toBe("tokenizer");
    expect(chatTemplateFor(undefined, [{ template: null }])).toBe("tokenizer");
  });
});

describe("chat:load", () => {
  it("carries any trainer template, and refuses an unknown one", () => {
    expect(chatLoadReq.parse({ modelPath: "m", template: "qwen" }).template).toBe("qwen");
    expect(chatLoadReq.parse({ modelPath: "m" }).template).toBe("tokenizer");
    expect(chatLoadReq.safeParse({ modelPath: "m", template: "vicuna" }).success).toBe(false);
  });
});
