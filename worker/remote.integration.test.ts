// A remote worker: a worker with its own, empty data and runs folders (no
// access to the server's) claims a job, downloads the dataset snapshot over HTTP with its worker
// token (sha256-checked), trains the demo model for real, uploads checkpoints and the adapter
// back (resumable, sha256-checked by the server) — and the server's copy matches byte for byte;
// continuing that run, it downloads the earlier run's final state from the server first.
// The transfer routes are the real handlers (app/api/worker/**), served without a Next build
// (worker/test-support/worker-api-server.ts). The database is shared (as remote workers share PostgreSQL).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createHash } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { migrateDeploy } from "@/prisma/migrate";
import { fillIdentity } from "@/lib/datasets/identity";
import { DEFAULT_RUN_CONFIG, type RunConfig } from "@/lib/schemas/run-config";
import { DEMO_MODEL, ROOT } from "./test-support/harness";
import { seedFromTemplates } from "@/lib/test-support/temp-data";

const TOKEN = "remote-test-worker-token-0123456789";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tuneboard-remote-"));
const serverData = path.join(dir, "server-data");
const serverRuns = path.join(dir, "server-runs");
const workerData = path.join(dir, "worker-data");
const workerRuns = path.join(dir, "worker-runs");
const dbUrl = `file:${path.join(dir, "test.db")}`;

// The route handlers read the server's configuration from this process's environment.
Object.assign(process.env, {
  DATABASE_URL: dbUrl,
  TUNEBOARD_ROOT: ROOT,
  TUNEBOARD_DATA_DIR: serverData,
  TUNEBOARD_RUNS_DIR: serverRuns,
  TUNEBOARD_MODEL_ROOTS: path.dirname(DEMO_MODEL),
  TUNEBOARD_WORKER_TOKEN: TOKEN,
});

let api: { url: string; close: () => Promise<void> };
let worker: ChildProcess | undefined;
let workerOut = "";
const sha = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

beforeAll(async () => {
  await seedFromTemplates(serverData);
  await fillIdentity(serverData, { sourceName: "identity", name: "Greatbot", author: "Allen", newName: "identity_greatbot" });
  fs.mkdirSync(workerData);
  await migrateDeploy(dbUrl);
  const { startWorkerApiServer } = await import("./test-support/worker-api-server");
  api = await startWorkerApiServer();
}, 120_000);

afterAll(async () => {
  if (worker && worker.exitCode === null && worker.signalCode === null) {
    worker.kill("SIGTERM");
    await new Promise((r) => worker!.once("exit", r));
  }
  await api?.close();
  const { db } = await import("@/lib/db");
  await db().$disconnect();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, ms: number, what: string): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}\n${workerOut}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

it("transfer API: worker token and lease holder required, paths confined, uploads resume and are checksummed", async () => {
  const { db } = await import("@/lib/db");
  const { enqueueJob } = await import("@/lib/queue/enqueue");
  const { claimJob } = await import("@/lib/queue/claim");
  const { finishJob } = await import("@/lib/queue/finish");
  const { RemoteClient } = await import("./remote/client");
  const config = { ...DEFAULT_RUN_CONFIG, model_name_or_path: DEMO_MODEL, dataset: ["identity_greatbot"] };
  const job = await enqueueJob({ name: "api", config: JSON.stringify(config), modelPath: DEMO_MODEL, datasets: "identity_greatbot" }, db());
  const claimed = (await claimJob("w-api", {}, db()))!;
  expect(claimed.id).toBe(job.id);
  const base = `${api.url}/api/worker/jobs/${job.id}`;
  const h = (token: string, worker = "w-api") => ({ authorization: `Bearer ${token}`, "x-tuneboard-worker": worker });

  expect((await fetch(`${base}/bundle`)).status).toBe(401);
  expect((await fetch(`${base}/bundle`, { headers: h("wrong-token-0123456789") })).status).toBe(401);
  expect((await fetch(`${base}/bundle`, { headers: h(TOKEN, "someone-else") })).status).toBe(409);
  const bundle = await (await fetch(`${base}/bundle`, { headers: h(TOKEN) })).json();
  expect(bundle.files).toEqual([
    { path: "identity_greatbot.json", size: fs.statSync(path.join(serverData, "identity_greatbot.json")).size, sha256: sha(path.join(serverData, "identity_greatbot.json")) },
  ]);
  // Only the job's own dataset files, nothing else of the data folder, nothing outside it.
  expect((await fetch(`${base}/datasets/identity.json`, { headers: h(TOKEN) })).status).toBe(404);
  expect((await fetch(`${base}/datasets/..%2F..%2Fetc%2Fpasswd`, { headers: h(TOKEN) })).status).toBe(400);
  expect((await fetch(`${base}/artifacts/..%2Fescape`, { headers: h(TOKEN) })).status).toBe(400);
  // Range requests (resumable download).
  const part = await fetch(`${base}/datasets/identity_greatbot.json`, { headers: { ...h(TOKEN), range: "bytes=10-19" } });
  expect(part.status).toBe(206);
  expect(Buffer.from(await part.arrayBuffer())).toEqual(fs.readFileSync(path.join(serverData, "identity_greatbot.json")).subarray(10, 20));

  // A resumed upload: the first 1000 bytes arrived before a "crash"; the client sends only the rest.
  const file = path.join(dir, "blob.bin");
  fs.writeFileSync(file, Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251)));
  const first = await fetch(`${base}/artifacts/checkpoint-1/blob.bin?offset=0`, { method: "PUT", headers: h(TOKEN), body: fs.readFileSync(file).subarray(0, 1000) });
  expect(first.status).toBe(200);
  const wrongOffset = await fetch(`${base}/artifacts/checkpoint-1/blob.bin?offset=0`, { method: "PUT", headers: h(TOKEN), body: "x" });
  expect(wrongOffset.status).toBe(409);
  expect((await wrongOffset.json()).received).toBe(1000);
  let sentBytes = 0;
  const counting: typeof fetch = async (input, init) => {
    if (init?.method === "PUT" && init.body) sentBytes += (init.body as Buffer).length;
    return fetch(input, init);
  };
  await new RemoteClient(api.url, TOKEN, "w-api", counting).upload(job.id, "checkpoint-1/blob.bin", file);
  expect(sentBytes).toBe(4000);
  expect(sha(path.join(serverRuns, `run-${job.id}`, "checkpoint-1", "blob.bin"))).toBe(sha(file));
  // A wrong checksum is refused and the partial copy dropped.
  await fetch(`${base}/artifacts/x.bin?offset=0`, { method: "PUT", headers: h(TOKEN), body: "abc" });
  const bad = await fetch(`${base}/artifacts/x.bin`, { method: "POST", headers: { ...h(TOKEN), "content-type": "application/json" }, body: JSON.stringify({ size: 3, sha256: "0".repeat(64) }) });
  expect(bad.status).toBe(422);
  expect(fs.existsSync(path.join(serverRuns, `run-${job.id}`, "x.bin"))).toBe(false);
  await finishJob(job.id, "w-api", { status: "cancelled" }, db());
  // A finished job's files are no longer served.
  expect((await fetch(`${base}/bundle`, { headers: h(TOKEN) })).status).toBe(409);
}, 60_000);

it("a remote worker with no access to the server's data folder downloads the dataset, trains, uploads the adapter; checksums match", async () => {
  const { db } = await import("@/lib/db");
  const { enqueueJob } = await import("@/lib/queue/enqueue");
  const config: RunConfig = {
    ...DEFAULT_RUN_CONFIG,
    model_name_or_path: DEMO_MODEL,
    dataset: ["identity_greatbot"],
    learning_rate: 1e-2,
    num_train_epochs: 1,
    max_samples: 8,
    per_device_train_batch_size: 2,
    gradient_accumulation_steps: 1,
    logging_steps: 1,
    save_steps: 2,
    cutoff_len: 256,
  };
  const job = await enqueueJob({ name: "remote", config: JSON.stringify(config), modelPath: DEMO_MODEL, datasets: "identity_greatbot" }, db());
  worker = spawn(process.execPath, ["--import", "tsx", "worker/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: "test",
      DATABASE_URL: dbUrl,
      TUNEBOARD_REMOTE: "1",
      TUNEBOARD_DATA_DIR: workerData, // its own folders: nothing of the server's
      TUNEBOARD_RUNS_DIR: workerRuns,
      TUNEBOARD_SERVER_URL: api.url,
      TUNEBOARD_WORKER_ID: "remote-1",
      TUNEBOARD_GPUS: "none",
      TUNEBOARD_POLL_MS: "200",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  worker.stdout!.on("data", (d) => (workerOut += d));
  worker.stderr!.on("data", (d) => (workerOut += d));

  const done = await waitFor(
    async () => {
      const j = await db().job.findUnique({ where: { id: job.id } });
      return j && ["succeeded", "failed", "cancelled"].includes(j.status) ? j : null;
    },
    240_000,
    "the remote job to finish",
  );
  expect(done.status, `${done.error}\n${workerOut}`).toBe("succeeded");
  const local = path.join(workerRuns, `run-${job.id}`);
  const remote = path.join(serverRuns, `run-${job.id}`);
  // The worker trained on its downloaded copy of the dataset…
  const trainerConfig = JSON.parse(fs.readFileSync(path.join(local, "tuneboard_config.json"), "utf8"));
  expect(trainerConfig.dataset_dir).toBe(workerData);
  expect(sha(path.join(workerData, "identity_greatbot.json"))).toBe(sha(path.join(serverData, "identity_greatbot.json")));
  // …and the server has the adapter, checkpoints included, byte for byte.
  for (const f of ["adapter_model.safetensors", "adapter_config.json", "trainer_state.pt", "checkpoint-2/adapter_model.safetensors", "checkpoint-2/trainer_state.pt"]) {
    expect(fs.existsSync(path.join(remote, f)), f).toBe(true);
    expect(sha(path.join(remote, f)), f).toBe(sha(path.join(local, f)));
  }
  expect(fs.existsSync(path.join(remote, "tuneboard_config.json"))).toBe(false);
  expect(fs.readdirSync(path.join(remote, ".uploads"), { recursive: true }).filter((f) => String(f).endsWith(".part"))).toEqual([]);
  expect(done.outputDir).toBe(remote); // the run points at the server's copy
  expect(workerOut).toMatch(/dataset file\(s\) downloaded and verified/);
  expect(workerOut).toMatch(/uploaded the adapter/);
}, 300_000);

it("a remote worker continues a run whose files are only on the server: it downloads the earlier run's final state", async () => {
  const { db } = await import("@/lib/db");
  const { enqueueJob } = await import("@/lib/queue/enqueue");
  // The run the previous test trained remotely: its files are on the server; the worker's own copy goes.
  const parent = (await db().job.findFirstOrThrow({ where: { name: "remote", status: "succeeded" } })).id;
  fs.rmSync(path.join(workerRuns, `run-${parent}`), { recursive: true, force: true });
  const config: RunConfig = {
    ...(JSON.parse((await db().job.findUniqueOrThrow({ where: { id: parent } })).config) as RunConfig),
    continue_from_run: parent,
    num_train_epochs: 1,
    save_steps: 0,
  };
  const job = await enqueueJob({ name: "remote-continued", config: JSON.stringify(config), modelPath: DEMO_MODEL, datasets: "identity_greatbot" }, db());
  const done = await waitFor(
    async () => {
      const j = await db().job.findUnique({ where: { id: job.id } });
      return j && ["succeeded", "failed", "cancelled"].includes(j.status) ? j : null;
    },
    240_000,
    "the continued remote job to finish",
  );
  expect(done.status, `${done.error}\n${workerOut}`).toBe("succeeded");
  const localParent = path.join(workerRuns, `run-${parent}`);
  for (const f of ["trainer_state.pt", "adapter_model.safetensors"]) expect(sha(path.join(localParent, f)), f).toBe(sha(path.join(serverRuns, `run-${parent}`, f)));
  expect(fs.existsSync(path.join(localParent, "checkpoint-2"))).toBe(false); // the final state only
  const trainerConfig = JSON.parse(fs.readFileSync(path.join(workerRuns, `run-${job.id}`, "tuneboard_config.json"), "utf8"));
  expect(trainerConfig.continue_from).toBe(localParent);
  expect(workerOut).toMatch(new RegExp(`downloaded run ${parent}'s final state`));
  // The continued run's steps follow the earlier run's (4 steps: 8 samples, batch 2).
  const steps = (await db().metric.findMany({ where: { jobId: job.id }, orderBy: { step: "asc" } })).map((m) => m.step);
  expect(steps).toEqual([5, 6, 7, 8]);
}, 300_000);

it("a job that continues no run, or a run whose state the server lacks, gets a refusal in words", async () => {
  const { db } = await import("@/lib/db");
  const { enqueueJob } = await import("@/lib/queue/enqueue");
  const { claimJob } = await import("@/lib/queue/claim");
  const { finishJob } = await import("@/lib/queue/finish");
  const { RemoteClient } = await import("./remote/client");
  const { remoteHooks } = await import("./remote/hooks");
  // Stop the worker of the tests above, so that this test's jobs are claimed here.
  if (worker && worker.exitCode === null && worker.signalCode === null) {
    worker.kill("SIGTERM");
    await new Promise((r) => worker!.once("exit", r));
  }
  const base = { ...DEFAULT_RUN_CONFIG, model_name_or_path: DEMO_MODEL, dataset: ["identity_greatbot"] };
  const plain = await enqueueJob({ name: "plain", config: JSON.stringify(base), modelPath: DEMO_MODEL, datasets: "identity_greatbot" }, db());
  expect((await claimJob("w-parent", {}, db()))!.id).toBe(plain.id);
  const client = new RemoteClient(api.url, TOKEN, "w-parent");
  await expect(client.listParentFiles(plain.id)).rejects.toThrow(`continues no earlier run`);
  await finishJob(plain.id, "w-parent", { status: "cancelled" }, db());

  // An earlier run whose folder on the server has no trainer_state.pt.
  const empty = await enqueueJob({ name: "no-state", config: JSON.stringify(base), modelPath: DEMO_MODEL, datasets: "identity_greatbot" }, db());
  await db().job.update({ where: { id: empty.id }, data: { status: "succeeded" } });
  fs.mkdirSync(path.join(serverRuns, `run-${empty.id}`, "checkpoint-1"), { recursive: true });
  fs.writeFileSync(path.join(serverRuns, `run-${empty.id}`, "adapter_config.json"), "{}");
  const child = await enqueueJob({ name: "child", config: JSON.stringify({ ...base, continue_from_run: empty.id }), modelPath: DEMO_MODEL, datasets: "identity_greatbot" }, db());
  const claimed = (await claimJob("w-parent", {}, db()))!;
  expect(claimed.id).toBe(child.id);
  expect((await client.listParentFiles(child.id)).map((f) => f.path)).toEqual(["adapter_config.json"]);
  const headers = { authorization: `Bearer ${TOKEN}`, "x-tuneboard-worker": "w-parent" };
  expect((await fetch(`${api.url}/api/worker/jobs/${child.id}/parent/checkpoint-1`, { headers })).status).toBe(404);
  expect((await fetch(`${api.url}/api/worker/jobs/${child.id}/parent/..%2F..%2Fetc%2Fpasswd`, { headers })).status).toBe(404);
  const lines: string[] = [];
  const hooks = remoteHooks({ ...(await import("@/lib/env")).env(), dataDir: workerData, runsDir: workerRuns, serverUrl: api.url }, TOKEN, "w-parent", (l) => lines.push(l));
  expect(await hooks.prepare(claimed)).toBeNull();
  const failed = await db().job.findUniqueOrThrow({ where: { id: child.id } });
  expect(failed.status).toBe("failed");
  expect(failed.error).toBe(`Remote worker could not get the job's files: run ${empty.id} has no saved final state (trainer_state.pt) on the server: it cannot be continued`);
}, 60_000);
