// The HTTP contract between the server and a remote worker (one with no shared disk): zod
// schemas used by both sides (server: app/api/worker/**, worker: worker/remote/client.ts).
//
//   GET  /api/worker/jobs/:id/bundle                    run config + dataset snapshot manifest (sha256 per file)
//   GET  /api/worker/jobs/:id/datasets/<file>           one dataset file (Range: resumable)
//   GET  /api/worker/jobs/:id/artifacts                 the run folder's finished files (for resuming elsewhere)
//   GET  /api/worker/jobs/:id/artifacts/<path>          download one (Range: resumable)
//   GET  /api/worker/jobs/:id/artifacts/<path>?status   bytes of it received so far (upload resume point)
//   PUT  /api/worker/jobs/:id/artifacts/<path>?offset=N append a chunk at N (409 + status when N is not the end)
//   POST /api/worker/jobs/:id/artifacts/<path>          {size, sha256}: verify and move into the run folder
//   GET  /api/worker/jobs/:id/parent                    final files of the run the job continues (continue_from_run)
//   GET  /api/worker/jobs/:id/parent/<file>             download one (Range: resumable)
//
// Every request carries `Authorization: Bearer <worker token>` and `X-Tuneboard-Worker: <id>`;
// a job's files are served and accepted only for the worker that holds the job's lease.
import { z } from "zod";

export const WORKER_ID_HEADER = "x-tuneboard-worker";
/** Upload chunk size: big enough to be fast, small enough for one request body in memory. */
export const UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024;

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A path inside a run folder: plain segments only (no "..", no absolute paths, no hidden files). */
export const artifactPathSchema = z
  .string()
  .min(1)
  .max(500)
  .refine((p) => p.split("/").every((seg) => SEGMENT.test(seg) && seg.length <= 200), "invalid artifact path");

/** A dataset file name as dataset_info.json has it (relative; containment is checked on both sides). */
export const datasetPathSchema = z
  .string()
  .min(1)
  .max(1000)
  .refine((p) => !p.startsWith("/") && !p.includes("\0") && !p.split(/[\\/]/).includes(".."), "invalid dataset path");

export const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, "sha256 must be 64 lowercase hex digits");

export const fileEntrySchema = z.object({
  path: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: sha256Schema,
});
export type FileEntry = z.infer<typeof fileEntrySchema>;

export const bundleSchema = z.object({
  jobId: z.number().int().positive(),
  /** The run config as stored with the job (the worker validates it again). */
  config: z.record(z.string(), z.unknown()),
  /** dataset_info.json entries of the job's datasets, as the server has them. */
  datasetInfo: z.record(z.string(), z.record(z.string(), z.unknown())),
  /** The dataset files (paths relative to the data folder). */
  files: z.array(fileEntrySchema.extend({ path: datasetPathSchema })),
});
export type Bundle = z.infer<typeof bundleSchema>;

export const artifactListSchema = z.object({ files: z.array(fileEntrySchema.extend({ path: artifactPathSchema })) });

export const uploadStatusSchema = z.object({ path: artifactPathSchema, received: z.number().int().nonnegative() });

export const completeUploadSchema = z.object({ size: z.number().int().nonnegative(), sha256: sha256Schema });

export const errorBodySchema = z.object({ error: z.string() });
