import { describe, expect, it } from "vitest";
import { analyzePreferenceHealth, type PreferencePoint } from "./preference-health";

/** n logged steps whose metrics come from f(i, t) with t going 0 → 1 over the run. */
function run(n: number, f: (i: number, t: number) => Record<string, number>): PreferencePoint[] {
  return Array.from({ length: n }, (_, i) => ({ step: i + 1, stageMetrics: f(i, i / (n - 1)) }));
}
const kinds = (points: PreferencePoint[]) => analyzePreferenceHealth(points).map((f) => f.kind);
// Deterministic batch noise, like the accuracies of 4 pairs per step.
const jitter = (i: number, amp: number) => amp * Math.sin(i * 2.3);

describe("preference health", () => {
  it("says nothing for runs without stage metrics or with too few points", () => {
    expect(analyzePreferenceHealth([{ step: 1, stageMetrics: null }, { step: 2 }])).toEqual([]);
    expect(kinds(run(4, () => ({ "rewards/margins": 0, "rewards/accuracies": 0.5 })))).toEqual([]);
  });

  it("a healthy DPO run: margins grow, accuracy rises, chosen log-probs hold", () => {
    const points = run(20, (i, t) => ({
      "rewards/margins": 2 * t + jitter(i, 0.05),
      "rewards/accuracies": Math.min(1, 0.5 + t + jitter(i, 0.1)),
      "logps/chosen": -40 + 5 * t,
      "logps/rejected": -40 - 20 * t,
    }));
    const [f] = analyzePreferenceHealth(points);
    expect(f.kind).toBe("pref_learning");
    expect(f.severity).toBe("ok");
    expect(f.values.accuracy).toBeGreaterThanOrEqual(0.9);
  });

  it("accuracy stuck at chance and margins that do not grow", () => {
    const points = run(20, (i) => ({ "rewards/margins": 0.01 * Math.sin(i), "rewards/accuracies": 0.5 + jitter(i, 0.25) }));
    expect(kinds(points)).toEqual(["accuracy_stuck", "margins_flat"]);
  });

  it("margins shrinking are not growing", () => {
    const points = run(12, (_, t) => ({ "rewards/margins": 1 - t, "rewards/accuracies": 0.9 }));
    const f = analyzePreferenceHealth(points).find((x) => x.kind === "margins_flat")!;
    expect(f.values.from).toBeGreaterThan(f.values.to);
  });

  it("the known DPO failure: chosen log-probs falling together with rejected ones", () => {
    const points = run(16, (_, t) => ({
      "rewards/margins": 3 * t,
      "rewards/accuracies": 0.5 + 0.5 * t,
      "logps/chosen": -40 - 30 * t,
      "logps/rejected": -40 - 60 * t,
    }));
    const found = analyzePreferenceHealth(points);
    expect(found.map((f) => f.kind)).toEqual(["chosen_falling"]);
    expect(found[0].values.chosenTo).toBeLessThan(found[0].values.chosenFrom);
  });

  it("chosen log-probs that only wander with each batch's answers are not falling (a demo DPO run's series)", () => {
    const chosen = [-34.51, -4.36, -19.37, -15.84, -15.6, -11.65, -18.04, -20.84, -6.17, -21.93, -11.45, -21.04];
    const rejected = [-161.08, -120, -130.96, -142.97, -123.47, -171.51, -196.87, -177.64, -140.75, -190.28, -183.97, -174.92];
    const margins = [0, 0.38, 1.48, 3.04, 3.04, 5.07, 5.38, 4.89, 4.25, 5.12, 3.38, 4.73];
    const points = chosen.map((c, i) => ({
      step: i + 1,
      stageMetrics: { "logps/chosen": c, "logps/rejected": rejected[i], "rewards/margins": margins[i], "rewards/accuracies": i === 0 ? 0 : 1 },
    }));
    expect(kinds(points)).toEqual(["pref_learning"]);
  });

  it("a reward model's accuracy counts like DPO's", () => {
    expect(kinds(run(10, () => ({ accuracy: 0.52 })))).toEqual(["accuracy_stuck"]);
    expect(kinds(run(10, (_, t) => ({ accuracy: 0.6 + 0.4 * t })))).toEqual(["pref_learning"]);
  });
});
