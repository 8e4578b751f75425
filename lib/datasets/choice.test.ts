import { expect, it } from "vitest";
import { makeT } from "@/lib/i18n/translate";
import { datasetNote, defaultDatasetSelection, isSelectableDataset } from "./choice";

const template = { name: "identity", records: 164, hasPlaceholders: true, error: null };
const filled = { name: "identity_greatbot", records: 164, hasPlaceholders: false, error: null };
const broken = { name: "broken", records: null, hasPlaceholders: false, error: "not valid JSON" };

it("a template with placeholders and an unreadable file are never selectable nor pre-selected", () => {
  expect([template, filled, broken].map(isSelectableDataset)).toEqual([false, true, false]);
  expect(defaultDatasetSelection([template])).toEqual([]);
  expect(defaultDatasetSelection([template, broken])).toEqual([]);
  expect(defaultDatasetSelection([template, filled, broken])).toEqual(["identity_greatbot"]);
});

it("says why a dataset cannot be chosen, in both languages", () => {
  expect(datasetNote(template, makeT("en"))).toBe("template: fill in name/author first");
  expect(datasetNote(template, makeT("zh"))).toBe("模板：请先填写名称和作者");
  expect(datasetNote(broken, makeT("en"))).toBe("unreadable: not valid JSON");
  expect(datasetNote({ ...filled, records: 1234 }, makeT("en"))).toBe("1,234 records");
});

it("pre-selects the newest supervised dataset, not a preference set registered after it", () => {
  const pairs = { name: "identity_pref_greatbot", records: 164, hasPlaceholders: false, error: null, kind: "preference" as const };
  expect(defaultDatasetSelection([template, filled, pairs])).toEqual(["identity_greatbot"]);
  expect(defaultDatasetSelection([template, pairs])).toEqual([]);
});
