// The command line of a trainer process (train, evaluate, export, chat): the worker spawns it, the
// Train page's "Show command" prints it, so both come from here.
import os from "node:os";
import { env } from "@/lib/env";
import path from "node:path";
import { gpuEnv, trainerArgs } from "./argv";

/**
 * On a small CPU host, one intra-op thread: measured on 2 cores, the demo run took 38.6 s for 12
 * steps with torch's default 2 threads while another process kept one core busy, and 7.1 s with
 * one thread (7.6 s vs 7.8 s when idle; see worker/trainer/DEMO_MODEL.md). OMP_NUM_THREADS set by
 * the user wins.
 */
export function threadEnv(): Record<string, string> {
  if (env().OMP_NUM_THREADS) return {};
  return os.cpus().length <= 2 ? { OMP_NUM_THREADS: "1" } : {};
}

/**
 * The trainer's command line. With more than one GPU it runs under torchrun
 * (`python -m torch.distributed.run --standalone --nproc-per-node N -m tuneboard_trainer …`): one
 * process per GPU on this machine, each with RANK/LOCAL_RANK/WORLD_SIZE, which the trainer's
 * distributed.py turns into DDP (LoRA) or FSDP2 (a model that does not fit one card). Only rank 0
 * prints events (metrics); any rank prints its `error`. `gpuIndices` become CUDA_VISIBLE_DEVICES.
 */
export function trainerCommand(python: string, root: string, args: string[], gpuIndices: number[] = []) {
  return {
    command: python,
    args: trainerArgs(args, gpuIndices.length),
    env: {
      ...process.env,
      ...threadEnv(),
      ...gpuEnv(gpuIndices),
      PYTHONPATH: path.join(root, "worker", "trainer"),
      PYTHONUNBUFFERED: "1",
    },
  };
}
