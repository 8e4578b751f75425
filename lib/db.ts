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
 * PostgreSQL (`postgresql://` URL): a Prisma client is generated per provider, so the PostgreSQL
 * one lives in lib/generated/prisma-pg (from prisma/schema.postgresql.prisma, derived from
 * schema.prisma: same models). Both have the same API; the app is typed against the SQLite one.
 *
 * The schema must be migrated first: `npm run migrate` (prisma/migrate.ts).
 */
import { PrismaClient } from "./generated/prisma/client";
import { PrismaClient as PgPrismaClient } from "./generated/prisma-pg/client";
import { createAdapterFactory, databaseUrl, providerOf, type DatabaseProvider } from "../prisma/adapter";

export type { Job, Metric, Worker } from "./generated/prisma/client";
export { Prisma } from "./generated/prisma/client";

const providers = new WeakMap<object, DatabaseProvider>();

/** A Prisma client for `url` (tests and tools that need their own database). Call `$disconnect()` when done. */
export function createDb(url: string = databaseUrl()): PrismaClient {
  const provider = providerOf(url);
  const adapter = createAdapterFactory(url);
  // Same models, same API: the PostgreSQL client is used through the SQLite client's type.
  const client =
    provider === "postgresql"
      ? (new PgPrismaClient({ adapter }) as unknown as PrismaClient)
      : new PrismaClient({ adapter });
  providers.set(client, provider);
  return client;
}

/** Which database a client talks to (the queue uses PostgreSQL-only SQL where it helps). */
export function providerOfDb(client: PrismaClient): DatabaseProvider {
  return providers.get(client) ?? "sqlite";
}

// One client per process; kept on globalThis so Next.js dev (hot reload) does not open a new one per reload.
const cache = globalThis as unknown as { __tuneboardDb?: PrismaClient };

/** The process-wide client for DATABASE_URL, created on first use. */
export function db(): PrismaClient {
  cache.__tuneboardDb ??= createDb();
  return cache.__tuneboardDb;
}

export type Db = PrismaClient;
