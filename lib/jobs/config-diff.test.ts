import { describe, expect, it } from "vitest";
import { diffConfigs, parseStoredConfig } from "./config-diff";

describe("diffConfigs", () => {
  it("lists only the settings that differ, in run order, and counts the rest", () => {
    const a = { name: "a", learning_rate: 0.01, lora_rank: 8, dataset: ["x"], model_name_or_path: "/m/demo", seed: 42 };
    const b = { name: "b", learning_rate: 0.001, lora_rank: 8, dataset: ["x", "y"], model_name_or_path: "/m/demo", seed: 42, max_steps: 4 };
    const d = diffConfigs([a, b]);
    expect(d.rows).toEqual([
      { key: "dataset", values: ["x", "x, y"] },
      { key: "learning_rate", values: ["0.01", "0.001"] },
      { key: "max_steps", values: [null, "4"] },
    ]);
    expect(d.same).toBe(3); // lora_rank, model_name_or_path, seed ("name" is ignored)
  });
  it("reads broken config text as empty", () => {
    expect(parseStoredConfig("not json")).toEqual({});
    expect(parseStoredConfig("[1]")).toEqual({});
    expect(parseStoredConfig('{"a":1}')).toEqual({ a: 1 });
  });
});
