// The GPUs this worker advertises in its heartbeat (and claims jobs by): nvidia-smi's view,
// queried with an argument array. TUNEBOARD_GPUS limits/overrides it:
//   unset        every GPU nvidia-smi lists (none when there is no nvidia-smi)
//   "none"       advertise no GPU (a CPU worker, even on a GPU machine)
//   "0,1"        only these GPU indices (the trainer then gets CUDA_VISIBLE_DEVICES=0,1)
//   JSON array   a fixed list (tests): [{"index":0,"name":"…","memoryTotalMiB":81559}]
import { execFile, spawnSync } from "node:child_process";
import { z } from "zod";
import { gpuInfoSchema, type GpuInfo } from "@/lib/queue/types";

const SMI_ARGS = ["--query-gpu=index,name,memory.total,memory.used,utilization.gpu", "--format=csv,noheader,nounits"];

function nvidiaSmi(): GpuInfo[] {
  const r = spawnSync("nvidia-smi", SMI_ARGS, { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0 || !r.stdout) return [];
  return parseSmi(r.stdout);
}

export function parseSmi(stdout: string): GpuInfo[] {
  const num = (s: string | undefined) => {
    const n = Number(s?.trim());
    return Number.isFinite(n) ? n : null;
  };
  return stdout
    .trim()
    .split("\n")
    .map((line) => line.split(",").map((f) => f.trim()))
    .map(([index, name, total, used, util]) =>
      gpuInfoSchema.parse({
        index: num(index) ?? 0,
        name: name ?? "GPU",
        memoryTotalMiB: num(total) ?? 0,
        memoryUsedMiB: num(used),
        utilizationPct: num(util),
      }),
    );
}

function select(all: GpuInfo[], s: string | undefined): GpuInfo[] {
  if (!s) return all;
  const wanted = new Set(s.split(",").map((x) => Number(x.trim())));
  return all.filter((g) => wanted.has(g.index));
}

/** Once, at start-up (blocking: the worker has nothing else to do yet). */
export function detectGpus(setting: string | undefined): GpuInfo[] {
  const s = setting?.trim();
  if (s === "none") return [];
  if (s?.startsWith("[")) return z.array(gpuInfoSchema).parse(JSON.parse(s));
  return select(nvidiaSmi(), s);
}

/** For the periodic heartbeat (memory used changes): never blocks the event loop; null on failure. */
export function refreshGpus(setting: string | undefined): Promise<GpuInfo[] | null> {
  const s = setting?.trim();
  if (s === "none" || s?.startsWith("[")) return Promise.resolve(detectGpus(s));
  return new Promise((resolve) => {
    execFile("nvidia-smi", SMI_ARGS, { encoding: "utf8", timeout: 10_000 }, (err, stdout) => {
      if (err || !stdout) return resolve(null);
      try {
        resolve(select(parseSmi(stdout), s));
      } catch {
        resolve(null);
      }
    });
  });
}
