import { describe, expect, it } from "vitest";
import { z } from "zod";
import { identityFillFormSchema } from "@/lib/schemas/dataset";
import { runConfigSchema } from "@/lib/schemas/run-config";
import { fieldErrorsFromZod, firstFieldError } from "./field-errors";

const INTERNAL_PREFIX = /^[a-zA-Z_]+: /;

describe("fieldErrorsFromZod", () => {
  it("keys each message by its input and keeps the schema's own words", () => {
    const r = identityFillFormSchema.safeParse({ sourceName: "identity", name: "", author: "Allen", newName: "Bad Name" });
    expect(r.success).toBe(false);
    const errors = fieldErrorsFromZod(r.error!);
    expect(Object.keys(errors).sort()).toEqual(["name", "newName"]);
    expect(errors.name).toBe("model name is required");
    for (const message of Object.values(errors)) expect(message).not.toMatch(INTERNAL_PREFIX);
  });

  it("keeps the first message of a field and files path-less issues under the fallback", () => {
    const schema = z.object({ a: z.string().min(3, "too short").regex(/x/, "needs an x") }).refine(() => false, "whole form");
    const r = schema.safeParse({ a: "b" });
    expect(fieldErrorsFromZod(r.error!)).toEqual({ a: "too short", form: "whole form" });
    expect(fieldErrorsFromZod(schema.safeParse({ a: "xxx" }).error!, "form")).toEqual({ form: "whole form" });
  });

  it("Train's run config: no message names an internal key", () => {
    const r = runConfigSchema.safeParse({ dataset: [], learning_rate: "abc", num_train_epochs: -1 });
    expect(r.success).toBe(false);
    for (const message of Object.values(fieldErrorsFromZod(r.error!))) expect(message).not.toMatch(INTERNAL_PREFIX);
  });
});

describe("firstFieldError", () => {
  it("names the field apart from the message", () => {
    const r = identityFillFormSchema.safeParse({ sourceName: "identity", name: "A", author: "B", newName: "_x" });
    const first = firstFieldError(r.error!, "name");
    expect(first.field).toBe("newName");
    expect(first.message).not.toMatch(INTERNAL_PREFIX);
    expect(firstFieldError(new z.ZodError([]), "name")).toEqual({ field: "name", message: "invalid value" });
  });
});
