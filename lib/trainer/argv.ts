// The trainer's python arguments and GPU environment, as the worker launches it. Pure (no Node
// modules): the worker (worker/trainer-process.ts) and the Train page's "Show command" (a client
// component) build the same command from here, so what is shown is what runs.

/** The module every trainer process runs. */
export const TRAINER_MODULE = "tuneboard_trainer";

/**
 * python's arguments: `-m tuneboard_trainer …`, or with more than one process
 * `-m torch.distributed.run --standalone --nnodes 1 --nproc-per-node N -m tuneboard_trainer …`
 * (torchrun: one process per GPU on this machine, each with RANK/LOCAL_RANK/WORLD_SIZE).
 */
export function trainerArgs(args: string[], nproc: number): string[] {
  const launcher =
    nproc > 1
      ? ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc-per-node", String(nproc), "-m"]
      : ["-m"];
  return [...launcher, TRAINER_MODULE, ...args];
}

/** CUDA_VISIBLE_DEVICES for the GPUs a job was given; none given: the variable is left alone. */
export function gpuEnv(gpuIndices: number[]): Record<string, string> {
  return gpuIndices.length > 0 ? { CUDA_VISIBLE_DEVICES: gpuIndices.join(",") } : {};
}
