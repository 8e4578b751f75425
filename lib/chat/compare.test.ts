import { expect, it } from "vitest";
import { generationParams } from "@/lib/schemas/socket";
import { COMPARE_MAX_NEW_TOKENS, compareParams } from "./compare";

it("caps each side of a comparison, keeping a lower setting and every other parameter", () => {
  const chatDefault = generationParams.parse({});
  expect(chatDefault.max_new_tokens).toBeGreaterThan(COMPARE_MAX_NEW_TOKENS);
  expect(compareParams(chatDefault)).toEqual({ ...chatDefault, max_new_tokens: COMPARE_MAX_NEW_TOKENS });
  const short = generationParams.parse({ max_new_tokens: 32, temperature: 0 });
  expect(compareParams(short)).toEqual(short);
});
