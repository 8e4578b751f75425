// renderRecord runs the real trainer module (render.py) through the venv's python, as the
// Datasets page does; the demo model's tokenizer is the real Llama 3.1 one.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderRecord, type RenderPaths } from "./render";
import { createTempData, REPO_ROOT as ROOT, SHARED_MODELS_DIR, type TempData } from "../test-support/temp-data";

let tmp: TempData;
let paths: RenderPaths;
beforeAll(async () => {
  tmp = await createTempData();
  paths = { dataDir: tmp.dataDir, modelRoots: [SHARED_MODELS_DIR], python: path.join(ROOT, ".venv", "bin", "python"), root: ROOT };
});
afterAll(async () => {
  await tmp.cleanup();
});

const req = { dataset: "identity", model: "tuneboard-demo", template: "llama3", record: 0, cutoffLen: 40 };
const caught = (p: Promise<unknown>) => p.then(() => { throw new Error("expected a refusal"); }, (e: unknown) => e);

describe("renderRecord", () => {
  it("renders a record with trained tokens and every record's length, then answers from the cache", async () => {
    const out = await renderRecord(paths, req);
    expect(out).toMatchObject({ ok: true, record: 0, num_records: 164, cutoff_len: 40, template: "llama3" });
    expect(out.lengths).toHaveLength(164);
    expect(out.num_trained).toBeGreaterThan(0);
    expect(out.tokens.filter((t) => t.trained).at(-1)?.text).toBe("<|eot_id|>");
    expect(out.over_cutoff).toBe(out.lengths.filter((n) => n > 40).length);
    const started = Date.now();
    expect(await renderRecord(paths, req)).toBe(out);
    expect(Date.now() - started).toBeLessThan(500);
  }, 180_000);

  it("refuses, at the field, models outside the roots, missing records and bad input", async () => {
    expect(await caught(renderRecord(paths, { ...req, model: "../../etc" }))).toMatchObject({ field: "model" });
    expect(await caught(renderRecord(paths, { ...req, record: 164 }))).toMatchObject({ field: "record", message: "record 164 does not exist (dataset 'identity' has records 0 to 163)" });
    expect(await caught(renderRecord(paths, { ...req, template: "chatml" }))).toMatchObject({ field: "template" });
    expect(await caught(renderRecord(paths, { ...req, cutoffLen: 0 }))).toMatchObject({ field: "cutoffLen" });
    expect(await caught(renderRecord(paths, { ...req, dataset: "nope" }))).toMatchObject({ field: "dataset" });
  });
});
