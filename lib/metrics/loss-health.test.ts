// Loss-health rules on synthetic curves: one curve per verdict, and noisy but healthy curves
// (seeded, so a failure reproduces) that must never be called trouble.
import { describe, expect, it } from "vitest";
import { analyzeLossHealth, isTrouble, type EvalLossPoint, type HealthKind, type LossPoint } from "./loss-health";

/** mulberry32: a tiny seeded PRNG. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal from a seeded uniform (Box–Muller). */
function gauss(r: () => number) {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

function curve(n: number, f: (step: number) => number, noise = 0, seed = 1): LossPoint[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const step = i + 1;
    return { step, loss: Math.max(1e-4, f(step) * (1 + noise * gauss(r))) };
  });
}

const kinds = (points: LossPoint[], ev: EvalLossPoint[] = [], finished = true): HealthKind[] =>
  analyzeLossHealth(points, ev, { finished }).map((f) => f.kind);
const find = (points: LossPoint[], kind: HealthKind, ev: EvalLossPoint[] = [], finished = true) =>
  analyzeLossHealth(points, ev, { finished }).find((f) => f.kind === kind);

describe("loss health", () => {
  it("too few points: no verdict yet", () => {
    expect(kinds(curve(4, () => 2))).toEqual(["too_few"]);
  });

  it("still falling at the end", () => {
    const pts = curve(60, (s) => 0.2 + 2.3 * Math.exp(-s / 60), 0.02);
    const f = find(pts, "falling", [], false);
    expect(f).toBeDefined();
    expect(f!.step).toBeGreaterThan(40);
    expect(kinds(pts, [], false)).not.toContain("converged");
  });

  it("converged: low and flat", () => {
    const pts = curve(120, (s) => 0.15 + 2.3 * Math.exp(-s / 10), 0.03);
    const f = find(pts, "converged");
    expect(f).toBeDefined();
    expect(f!.values.loss).toBeLessThan(0.2);
    expect(analyzeLossHealth(pts, [], { finished: true }).some(isTrouble)).toBe(false);
  });

  it("final loss still high (> 1)", () => {
    const pts = curve(60, (s) => 1.6 + 1.0 * Math.exp(-s / 8), 0.02);
    const f = find(pts, "high");
    expect(f).toBeDefined();
    expect(f!.values.loss).toBeGreaterThan(1);
    expect(f!.step).toBe(60);
  });

  it("flat from the start (learning rate too low)", () => {
    const pts = curve(50, () => 2.4, 0.01);
    expect(kinds(pts)).toEqual(["flat"]);
    expect(find(pts, "flat")!.step).toBe(1);
  });

  it("flat at zero (every label masked)", () => {
    const pts = curve(20, () => 0);
    const f = find(pts.map((p) => ({ ...p, loss: 0 })), "flat");
    expect(f?.values.zero).toBe(1);
  });

  it("a sudden spike that recovers, at its step", () => {
    const pts = curve(80, (s) => 0.3 + 2 * Math.exp(-s / 12), 0.02).map((p) => (p.step === 41 ? { ...p, loss: 3.5 } : p));
    const f = find(pts, "spike");
    expect(f).toBeDefined();
    expect(f!.step).toBe(41);
    expect(f!.severity).toBe("warn");
  });

  it("divergence: a jump that stays up", () => {
    const pts = curve(60, (s) => (s < 30 ? 0.5 + 2 * Math.exp(-s / 8) : 4 + s / 20), 0.02);
    const f = find(pts, "diverged");
    expect(f).toBeDefined();
    expect(f!.step).toBe(30);
    expect(f!.severity).toBe("error");
  });

  it("divergence: a slow climb from the minimum", () => {
    const pts = curve(60, (s) => (s < 20 ? 2.5 - s * 0.1 : 0.5 + (s - 20) * 0.06), 0.01);
    const f = find(pts, "diverged");
    expect(f).toBeDefined();
    expect(f!.step).toBeGreaterThanOrEqual(18);
    expect(f!.step).toBeLessThanOrEqual(23);
  });

  it("divergence: a non-finite loss", () => {
    const pts: LossPoint[] = [...curve(10, () => 2), { step: 11, loss: null }];
    expect(find(pts, "diverged")?.step).toBe(11);
  });

  it("overfitting: eval loss rises while training loss falls", () => {
    const pts = curve(100, (s) => 0.05 + 2.3 * Math.exp(-s / 25), 0.02);
    const ev: EvalLossPoint[] = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((step) => ({
      step,
      evalLoss: 1.2 + 0.0004 * (step - 40) ** 2,
    }));
    const f = find(pts, "overfitting", ev);
    expect(f).toBeDefined();
    expect(f!.step).toBe(40);
  });

  it("no overfitting when eval loss falls with training loss", () => {
    const pts = curve(100, (s) => 0.2 + 2.3 * Math.exp(-s / 25), 0.02);
    const ev = [20, 40, 60, 80, 100].map((step) => ({ step, evalLoss: 0.4 + 2 * Math.exp(-step / 25) }));
    expect(kinds(pts, ev)).not.toContain("overfitting");
  });

  // Small-batch training is noisy: ±15% multiplicative noise around a healthy decay, many seeds.
  it.each(Array.from({ length: 25 }, (_, i) => i + 1))("noisy but healthy curve (seed %i): no trouble", (seed) => {
    const pts = curve(150, (s) => 0.25 + 2.2 * Math.exp(-s / 30), 0.15, seed);
    const r = rng(seed * 7);
    const ev = [25, 50, 75, 100, 125, 150].map((step) => ({ step, evalLoss: (0.35 + 2 * Math.exp(-step / 30)) * (1 + 0.02 * gauss(r)) }));
    for (const finished of [false, true]) {
      const findings = analyzeLossHealth(pts, ev, { finished });
      expect(findings.filter(isTrouble), JSON.stringify(findings)).toEqual([]);
      expect(findings.map((f) => f.kind).some((k) => k === "converged" || k === "falling")).toBe(true);
    }
  });

  it("a healthy curve still early in training (running) says falling, not high", () => {
    const pts = curve(30, (s) => 0.25 + 2.2 * Math.exp(-s / 30), 0.1, 3);
    const findings = analyzeLossHealth(pts, [], { finished: false });
    expect(findings.filter(isTrouble)).toEqual([]);
  });
});
