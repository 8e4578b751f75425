// What a remote worker (TUNEBOARD_REMOTE=1, no shared disk with the server) does around a job:
//  - prepare: fetch the bundle (run config + dataset snapshot manifest) with its worker token,
//    download the dataset files into its own data folder (sha256-checked), and, for a retried
//    job, the newest complete checkpoint the server has, for a continued run the earlier run's
//    final state (into run-<earlier id> of its own runs folder, where run-job.ts looks for it);
//    point the config at the local model
//    (same path, or the same folder name under TUNEBOARD_MODEL_ROOTS);
//  - onCheckpoint: upload each checkpoint (trainer_state.pt last, so the server's copy is only
//    "complete" once everything else is there: the rule latestCheckpoint relies on);
//  - beforeFinish: upload the final adapter and run files; the job succeeds only if that worked.
import fs from "node:fs";
import path from "node:path";
import type { Env } from "@/lib/env";
import type { Job } from "@/lib/db";
import { finishJob } from "@/lib/queue/finish";
import { RemoteClient, inside, sha256File } from "./client";

const STATE_FILE = "trainer_state.pt";

/** Files of a folder (recursive, relative "/" paths), trainer_state.pt of each folder last. */
function filesForUpload(dir: string, opts: { recursive: boolean }): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    const entries = fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    const later: string[] = [];
    for (const e of entries) {
      if (e.name.startsWith(".") || e.name.endsWith(".part") || e.name.endsWith(".tmp")) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (opts.recursive) walk(path.join(d, e.name), r);
      } else if (e.isFile()) (e.name === STATE_FILE ? later : out).push(r);
    }
    out.push(...later);
  };
  walk(dir, "");
  return out;
}

export interface RemoteHooks {
  prepare: (job: Job) => Promise<Job | null>;
  onCheckpoint: (jobId: number, checkpointPath: string) => void;
  beforeFinish: (jobId: number, outputDir: string) => Promise<string | null>;
}

export function remoteHooks(env: Env, token: string, workerId: string, log: (msg: string) => void): RemoteHooks {
  const client = new RemoteClient(env.serverUrl, token, workerId);
  let uploads: Promise<string | null> = Promise.resolve(null);
  /** Uploaded (path → sha256), so the final upload skips what a checkpoint already sent. */
  const sent = new Map<string, string>();

  const uploadDir = async (jobId: number, runDir: string, sub: string, recursive: boolean) => {
    const base = sub ? inside(runDir, sub) : runDir;
    for (const rel of filesForUpload(base, { recursive })) {
      const relInRun = sub ? `${sub}/${rel}` : rel;
      if (relInRun === "tuneboard_config.json") continue; // the worker's own paths; the server has the config
      const file = path.join(base, rel);
      const sha = await sha256File(file);
      if (sent.get(relInRun) === sha) continue;
      await client.upload(jobId, relInRun, file);
      sent.set(relInRun, sha);
    }
  };

  /** The earlier run's final files into this worker's run-<parent>, trainer_state.pt last. */
  const fetchParentState = async (jobId: number, parent: number) => {
    const files = await client.listParentFiles(jobId);
    if (!files.some((f) => f.path === STATE_FILE)) {
      throw new Error(`run ${parent} has no saved final state (${STATE_FILE}) on the server: it cannot be continued`);
    }
    files.sort((a, b) => Number(a.path === STATE_FILE) - Number(b.path === STATE_FILE));
    const parentDir = path.join(env.runsDir, `run-${parent}`);
    for (const f of files) await client.downloadParentFile(jobId, f, parentDir);
    log(`job ${jobId}: downloaded run ${parent}'s final state (${files.length} file(s), sha256-checked) to continue it`);
  };

  return {
    async prepare(job) {
      try {
        const bundle = await client.bundle(job.id);
        for (const f of bundle.files) await client.downloadDataset(job.id, f, env.dataDir);
        // The local registry: the server's entries for this job's datasets, merged into ours.
        const registryFile = path.join(env.dataDir, "dataset_info.json");
        const registry = fs.existsSync(registryFile) ? (JSON.parse(fs.readFileSync(registryFile, "utf8")) as Record<string, unknown>) : {};
        fs.writeFileSync(registryFile, JSON.stringify({ ...registry, ...bundle.datasetInfo }, null, 2));
        log(`job ${job.id}: ${bundle.files.length} dataset file(s) downloaded and verified (sha256)`);

        const config = { ...bundle.config };
        const model = typeof config.model_name_or_path === "string" ? config.model_name_or_path : "";
        if (model && !fs.existsSync(model)) {
          const local = env.modelRoots.map((r) => path.join(r, path.basename(model))).find((p) => fs.existsSync(p));
          if (!local) throw new Error(`model ${path.basename(model)} is not on this worker (put it under ${env.modelRoots.join(", ")})`);
          config.model_name_or_path = local;
        }

        const runDir = path.join(env.runsDir, `run-${job.id}`);
        if (job.attempts > 1) {
          // Resume where the previous worker got: the newest checkpoint the server has in full.
          const files = await client.listArtifacts(job.id);
          const steps = files
            .map((f) => /^checkpoint-(\d+)\/trainer_state\.pt$/.exec(f.path))
            .filter((m): m is RegExpExecArray => m !== null)
            .map((m) => Number(m[1]))
            .filter((step) => step <= job.step) // not ahead of the recorded metrics (latestCheckpoint)
            .sort((a, b) => b - a);
          if (steps.length) {
            const prefix = `checkpoint-${steps[0]}/`;
            const wanted = files.filter((f) => f.path.startsWith(prefix));
            // trainer_state.pt last, here too: a download cut short leaves no "complete" checkpoint.
            wanted.sort((a, b) => Number(a.path.endsWith(STATE_FILE)) - Number(b.path.endsWith(STATE_FILE)));
            for (const f of wanted) {
              await client.downloadArtifact(job.id, f, runDir);
              sent.set(f.path, f.sha256);
            }
            log(`job ${job.id}: downloaded ${prefix.slice(0, -1)} from the server to resume`);
          }
        }
        if (typeof config.continue_from_run === "number") await fetchParentState(job.id, config.continue_from_run);
        return { ...job, config: JSON.stringify(config) };
      } catch (err) {
        const error = `Remote worker could not get the job's files: ${(err as Error).message}`;
        log(`job ${job.id}: ${error}`);
        await finishJob(job.id, workerId, { status: "failed", error });
        return null;
      }
    },
    onCheckpoint(jobId, checkpointPath) {
      const runDir = path.dirname(checkpointPath);
      const sub = path.basename(checkpointPath);
      uploads = uploads.then(async (prev) => {
        try {
          await uploadDir(jobId, runDir, sub, true);
          log(`job ${jobId}: uploaded ${sub}`);
          return prev;
        } catch (err) {
          log(`job ${jobId}: checkpoint upload failed (${(err as Error).message}); the final upload retries`);
          return prev;
        }
      });
    },
    async beforeFinish(jobId, outputDir) {
      await uploads;
      try {
        await uploadDir(jobId, outputDir, "", false);
        log(`job ${jobId}: uploaded the adapter and run files (sha256 verified by the server)`);
        return null;
      } catch (err) {
        return `Training finished, but uploading the adapter to the server failed: ${(err as Error).message}`;
      }
    },
  };
}
