// Property-based fuzzing of the run config boundary (fast-check): whatever the browser posts,
// runConfigSchema fails with issues that name a field of the config, and createRun answers with
// field errors — it never throws.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_RUN_CONFIG, runConfigSchema } from "@/lib/schemas/run-config";
import { createRun } from "@/lib/jobs/create-run";

const FIELDS = Object.keys(runConfigSchema.shape);
const NUM_RUNS = 200;

// A config that parses, except that its model does not exist: createRun must stop at the model
// check and never reach the queue.
const valid = { ...DEFAULT_RUN_CONFIG, model_name_or_path: "fuzz-model-that-does-not-exist", dataset: ["identity"] };

// Hostile values: anything JSON or a form can carry, plus numbers and strings at the edges.
const hostile = fc.oneof(
  fc.anything({ withNullPrototype: true, withBigInt: true, withDate: true, withSparseArray: true, withTypedArray: true }),
  fc.constantFrom("", " ", "NaN", "Infinity", "-1", "1e309", "0x10", "1_000", "\u0000", "true", "on", "../../etc", "<script>"),
  fc.double(),
  fc.integer(),
  fc.string(),
  fc.array(fc.string()),
);

// One field replaced by a hostile value, removed, or an extra field added.
const mutated = fc.oneof(
  fc.record({ key: fc.constantFrom(...FIELDS), value: hostile }).map(({ key, value }) => ({ input: { ...valid, [key]: value }, key })),
  fc.constantFrom(...FIELDS).map((key) => {
    const { [key]: _gone, ...rest } = valid as Record<string, unknown>;
    return { input: rest, key };
  }),
  fc.record({ key: fc.string(), value: hostile }).map(({ key, value }) => ({ input: { ...valid, [key]: value }, key: null })),
);

describe("runConfigSchema under fuzzing", () => {
  it("a config with one hostile field never throws; a failure names that field", () => {
    fc.assert(
      fc.property(mutated, ({ input, key }) => {
        const result = runConfigSchema.safeParse(input);
        if (result.success) return;
        for (const issue of result.error.issues) {
          expect(issue.path.length, issue.message).toBeGreaterThan(0);
          expect(FIELDS).toContain(String(issue.path[0]));
          expect(issue.message.length).toBeGreaterThan(0);
        }
        // Only that field changed, so only that field can be at fault.
        if (key !== null) expect(result.error.issues.map((i) => String(i.path[0]))).toEqual(expect.arrayContaining([key]));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("arbitrary input (not even an object) never throws; issues on an object name its fields", () => {
    fc.assert(
      fc.property(hostile, (input) => {
        const result = runConfigSchema.safeParse(input);
        expect(result.success).toBe(false);
        if (result.success) return;
        const isObject = typeof input === "object" && input !== null && !Array.isArray(input);
        for (const issue of result.error.issues) {
          if (isObject) expect(FIELDS).toContain(String(issue.path[0]));
          else expect(issue.path).toEqual([]);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe("createRun under fuzzing", () => {
  it("answers every hostile request with field errors (never throws, never queues)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutated.map((m) => m.input), hostile), async (input) => {
        const result = await createRun(input);
        expect(result.ok).toBe(false);
        if (result.ok) return;
        const keys = Object.keys(result.fieldErrors);
        expect(keys.length).toBeGreaterThan(0);
        for (const k of keys) {
          expect([...FIELDS, "form"]).toContain(k);
          expect(typeof result.fieldErrors[k]).toBe("string");
          expect(result.fieldErrors[k]!.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
