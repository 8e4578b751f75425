import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { FAST_PATH_OPTION_FIELDS, parseTrainRunDetails } from "./fast-path-options";
import { startedEvent } from "./trainer-events";
import { runs } from "../i18n/messages/runs";

const fixture = fs.readFileSync(new URL("./fixtures/trainer-events.jsonl", import.meta.url), "utf8").trim().split("\n");
const reported = fixture
  .map((line) => JSON.parse(line))
  .find((e) => e.type === "started" && e.fast_path_options)?.fast_path_options;

describe("fast-path options", () => {
  it("the trainer's started event carries them and every reported field has a label", () => {
    expect(reported).toBeTruthy();
    expect(startedEvent.safeParse({ v: 1, time: 1, type: "started", total_steps: 1, num_samples: 1, num_epochs: 1,
      trainable_params: 1, total_params: 1, device: "cpu", dtype: "float32", output_dir: "o",
      fast_path_options: reported }).success).toBe(true);
    expect(new Set(Object.keys(reported))).toEqual(new Set(FAST_PATH_OPTION_FIELDS));
    for (const locale of Object.values(runs)) {
      for (const field of FAST_PATH_OPTION_FIELDS) expect(locale).toHaveProperty([`fastPath.field.${field}`]);
    }
  });

  it("reads a train job's stored details, and nothing from an empty or foreign result", () => {
    const stored = JSON.stringify({ fastPathOptions: reported });
    expect(parseTrainRunDetails(stored)?.fastPathOptions).toEqual(reported);
    expect(parseTrainRunDetails(null)).toBeNull();
    expect(parseTrainRunDetails("not json")).toBeNull();
    expect(parseTrainRunDetails(JSON.stringify({ metrics: { bleu: 1 } }))).toBeNull();
  });
});
