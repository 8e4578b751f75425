// HTTP client of a remote worker (no shared disk with the server): downloads a job's dataset
// snapshot, checkpoints and the final state of the run it continues, uploads checkpoints and the final adapter. Every body is parsed with
// zod; downloads resume with Range from a .part file, uploads resume from the server's received
// offset; both are checked against sha256 before a file is used or accepted.
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import type { z } from "zod";
import {
  artifactListSchema,
  artifactPathSchema,
  bundleSchema,
  completeUploadSchema,
  errorBodySchema,
  uploadStatusSchema,
  UPLOAD_CHUNK_BYTES,
  WORKER_ID_HEADER,
  type Bundle,
  type FileEntry,
} from "@/lib/remote/protocol";

export class RemoteError extends Error {}

const completeAnswerSchema = completeUploadSchema.extend({ path: artifactPathSchema });

export async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** `rel` under `root`, or an error when it would leave it. */
export function inside(root: string, rel: string): string {
  const base = path.resolve(root);
  const p = path.resolve(base, rel);
  if (p !== base && !p.startsWith(base + path.sep)) throw new RemoteError(`path ${rel} leaves ${root}`);
  return p;
}

const encodePath = (rel: string) => rel.split("/").map(encodeURIComponent).join("/");

export class RemoteClient {
  constructor(
    private readonly serverUrl: string,
    private readonly token: string,
    private readonly workerId: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  private async request(urlPath: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.token}`);
    headers.set(WORKER_ID_HEADER, this.workerId);
    return this.fetchImpl(new URL(urlPath, this.serverUrl), { ...init, headers });
  }

  private async json<T>(res: Response, schema: z.ZodType<T>, what: string): Promise<T> {
    const body: unknown = await res.json().catch(() => null);
    if (!res.ok) {
      const err = errorBodySchema.safeParse(body);
      throw new RemoteError(`${what}: HTTP ${res.status}${err.success ? `: ${err.data.error}` : ""}`);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new RemoteError(`${what}: unexpected answer from the server`);
    return parsed.data;
  }

  async bundle(jobId: number): Promise<Bundle> {
    return this.json(await this.request(`/api/worker/jobs/${jobId}/bundle`), bundleSchema, "job bundle");
  }

  async listArtifacts(jobId: number): Promise<FileEntry[]> {
    const res = await this.request(`/api/worker/jobs/${jobId}/artifacts`);
    return (await this.json(res, artifactListSchema, "run files")).files;
  }

  /** The final files of the run job `jobId` continues (its folder's top level on the server). */
  async listParentFiles(jobId: number): Promise<FileEntry[]> {
    const res = await this.request(`/api/worker/jobs/${jobId}/parent`);
    return (await this.json(res, artifactListSchema, "the continued run's files")).files;
  }

  async downloadParentFile(jobId: number, entry: FileEntry, parentDir: string): Promise<void> {
    await this.download(`/api/worker/jobs/${jobId}/parent/${encodePath(entry.path)}`, inside(parentDir, entry.path), entry);
  }

  /** Download to `dest` (resuming a previous .part), verify size + sha256, then rename into place. */
  private async download(urlPath: string, dest: string, entry: FileEntry): Promise<void> {
    if (fs.existsSync(dest) && fs.statSync(dest).size === entry.size && (await sha256File(dest)) === entry.sha256) return;
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const part = `${dest}.part`;
    for (let attempt = 0; attempt < 3; attempt++) {
      let have = fs.existsSync(part) ? fs.statSync(part).size : 0;
      if (have > entry.size) {
        fs.rmSync(part);
        have = 0;
      }
      if (have < entry.size) {
        const res = await this.request(urlPath, { headers: have > 0 ? { range: `bytes=${have}-` } : {} });
        if (!res.ok || !res.body) throw new RemoteError(`download ${entry.path}: HTTP ${res.status}`);
        if (have > 0 && res.status !== 206) fs.rmSync(part, { force: true }); // server ignored the range
        const out = fs.createWriteStream(part, { flags: "a" });
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
        }
        await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      }
      if (fs.statSync(part).size === entry.size && (await sha256File(part)) === entry.sha256) {
        fs.renameSync(part, dest);
        return;
      }
      fs.rmSync(part, { force: true }); // corrupt: start over
    }
    throw new RemoteError(`download ${entry.path}: checksum does not match after 3 attempts`);
  }

  async downloadDataset(jobId: number, entry: FileEntry, dataDir: string): Promise<void> {
    await this.download(`/api/worker/jobs/${jobId}/datasets/${encodePath(entry.path)}`, inside(dataDir, entry.path), entry);
  }

  async downloadArtifact(jobId: number, entry: FileEntry, runDir: string): Promise<void> {
    await this.download(`/api/worker/jobs/${jobId}/artifacts/${encodePath(entry.path)}`, inside(runDir, entry.path), entry);
  }

  /**
   * Upload `file` as `rel` of the job's run folder: ask how much the server has, send the rest in
   * chunks, then ask it to verify size + sha256 (it starts over on a mismatch; so do we, once).
   */
  async upload(jobId: number, rel: string, file: string): Promise<{ size: number; sha256: string }> {
    const size = fs.statSync(file).size;
    const sha256 = await sha256File(file);
    const url = `/api/worker/jobs/${jobId}/artifacts/${encodePath(rel)}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      // More than we have (a stale partial upload): the loop is skipped, the server's check fails, we start over.
      let offset = (await this.json(await this.request(`${url}?status`), uploadStatusSchema, `upload ${rel}`)).received;
      const fd = fs.openSync(file, "r");
      try {
        while (offset < size) {
          const buf = Buffer.alloc(Math.min(UPLOAD_CHUNK_BYTES, size - offset));
          fs.readSync(fd, buf, 0, buf.length, offset);
          const res = await this.request(`${url}?offset=${offset}`, { method: "PUT", body: buf });
          if (res.status === 409) {
            // Not where the server is (a chunk got lost or doubled): continue from its offset.
            const at = uploadStatusSchema.safeParse(await res.json().catch(() => null));
            if (!at.success) throw new RemoteError(`upload ${rel}: HTTP 409`);
            offset = at.data.received;
            continue;
          }
          offset = (await this.json(res, uploadStatusSchema, `upload ${rel}`)).received;
        }
      } finally {
        fs.closeSync(fd);
      }
      const res = await this.request(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ size, sha256 }),
      });
      if (res.status === 422) continue; // the server dropped its partial copy: once more from 0
      await this.json(res, completeAnswerSchema, `upload ${rel}`);
      return { size, sha256 };
    }
    throw new RemoteError(`upload ${rel}: checksum rejected twice`);
  }
}
