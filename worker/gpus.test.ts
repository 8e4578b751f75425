import { expect, it } from "vitest";
import { detectGpus, parseSmi } from "./gpus";

it("parses nvidia-smi's CSV (MiB, %); [N/A] fields become null", () => {
  const out = "0, NVIDIA H200, 143771, 1024, 3\n1, NVIDIA H200, 143771, [N/A], [N/A]\n";
  expect(parseSmi(out)).toEqual([
    { index: 0, name: "NVIDIA H200", memoryTotalMiB: 143771, memoryUsedMiB: 1024, utilizationPct: 3 },
    { index: 1, name: "NVIDIA H200", memoryTotalMiB: 143771, memoryUsedMiB: null, utilizationPct: null },
  ]);
});

it("TUNEBOARD_GPUS: none, or a fixed JSON list (validated)", () => {
  expect(detectGpus("none")).toEqual([]);
  expect(detectGpus('[{"index":0,"name":"X","memoryTotalMiB":10}]')).toEqual([
    { index: 0, name: "X", memoryTotalMiB: 10, memoryUsedMiB: null, utilizationPct: null },
  ]);
  expect(() => detectGpus('[{"index":-1}]')).toThrow();
});
