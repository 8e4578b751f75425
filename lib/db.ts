/**
 * The Prisma client of this process (server, worker, scripts).
 *
 *   import { db } from "@/lib/db";
 *   const jobs = await db().job.findMany();
 *
 * Prisma 7: the client is generated into lib/generated/prisma (git-ignored; run
 * `PRISMA_SCHEMA_ENGINE_BINARY=/bin/true npx prisma generate`) and always talks to the
 * database through a driver adapter; no query-engine binary. The adapter comes from
 * DATABASE_URL in prisma/adapter.ts (default file:./data/tuneboard.db, relative paths
 * resolved against the repository root), which also sets the SQLite pragmas:
 * journal_mode=WAL once per process, busy_timeout=5000 ms on every connection.
 *
 * The schema must be migrated first: `npm run migrate` (prisma/migrate.ts).
 */
import { PrismaClient } from "./generated/prisma/client";
import { createAdapterFactory, databaseUrl } from "../prisma/adapter";

export type { Job, Metric, Worker } from "./generated/prisma/client";
export { Prisma } from "./generated/prisma/client";

/** A Prisma client for `url` (tests and tools that need their own database). Call `$disconnect()` when done. */
export function createDb(url: string = databaseUrl()): PrismaClient {
  return new PrismaClient({ adapter: createAdapterFactory(url) });
}

// One client per process; kept on globalThis so Next.js dev (hot reload) does not open a new one per reload.
const cache = globalThis as unknown as { __tuneboardDb?: PrismaClient };

/** The process-wide client for DATABASE_URL, created on first use. */
export function db(): PrismaClient {
  cache.__tuneboardDb ??= createDb();
  return cache.__tuneboardDb;
}

export type Db = PrismaClient;
