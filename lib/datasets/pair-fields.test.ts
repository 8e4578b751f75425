import { describe, expect, it } from "vitest";
import { toEditable } from "./edit";
import { answersAsText, answersFromText } from "./pair-fields";

describe("pair fields", () => {
  it("edits a sharegpt answer's content and writes it back into the same message", () => {
    const record = toEditable({ conversations: [{ from: "human", value: "Hi" }], chosen: { from: "gpt", value: "A" }, rejected: [{ from: "gpt", value: "x" }, { from: "gpt", value: "B" }] }, 0);
    const layout = { chosen: "chosen", rejected: "rejected", contentKey: "value" };
    const { values, messages } = answersAsText(record, layout);
    expect([values.chosen, values.rejected]).toEqual(["A", "B"]);
    const back = answersFromText({ ...values, chosen: "A2", rejected: "B2" }, messages, "value");
    expect(JSON.parse(back.chosen ?? "")).toEqual({ from: "gpt", value: "A2" });
    expect(JSON.parse(back.rejected ?? "")).toEqual([{ from: "gpt", value: "x" }, { from: "gpt", value: "B2" }]);
  });

  it("gives a missing alpaca answer an empty box", () => {
    const record = toEditable({ instruction: "Q", chosen: "A" }, 3);
    const { values, messages } = answersAsText(record, { chosen: "chosen", rejected: "rejected", contentKey: null });
    expect(values).toEqual({ instruction: "Q", chosen: "A", rejected: "" });
    expect(answersFromText(values, messages, null)).toEqual(values);
  });
});
