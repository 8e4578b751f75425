/**
 * The one place where a database URL becomes a Prisma driver adapter factory.
 *
 * Used by the app (lib/db.ts) and by the migration command (prisma/migrate.ts).
 * It must not import the generated client: migrations run before `prisma generate`.
 *
 * SQLite (`file:` URLs, @prisma/adapter-better-sqlite3) and PostgreSQL (`postgresql://` /
 * `postgres://` URLs, @prisma/adapter-pg). Which generated client goes with which provider is
 * lib/db.ts's business; which migrations folder, migrate.ts's (prisma/README.md).
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { env } from "../lib/env";
import { databaseUrl, providerOf, sqliteFilePath } from "./database-url";

export * from "./database-url";

/** SQLite busy timeout: how long a connection waits for the write lock before SQLITE_BUSY. */
export const SQLITE_BUSY_TIMEOUT_MS = 5000;

/**
 * Settings every SQLite connection of the app relies on:
 * - WAL journal mode (readers never block the writer). It is stored in the database
 *   file, so setting it once per process, before the adapter connects, is enough.
 * - busy_timeout: per connection; the adapter passes its options to better-sqlite3,
 *   whose `timeout` option *is* busy_timeout (see createAdapterFactory).
 * Creates the parent folder and an empty database file when missing.
 */
export function prepareSqliteFile(filePath: string): void {
  if (filePath === ":memory:") return;
  fs.mkdirSync(path.dirname(filePath), { recursive: true });
  const db = new Database(filePath, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    // Switching to WAL needs the file to itself; once WAL, it stays WAL (no switch, no lock).
    if (String(db.pragma("journal_mode", { simple: true })).toLowerCase() !== "wal") db.pragma("journal_mode = WAL");
  } finally {
    db.close();
  }
}

/**
 * Driver adapter factory for a URL: what `new PrismaClient({ adapter })` and the
 * WASM schema engine both take.
 */
export function createAdapterFactory(url: string = databaseUrl()): SqlMigrationAwareDriverAdapterFactory {
  const provider = providerOf(url);
  switch (provider) {
    case "sqlite": {
      const file = sqliteFilePath(url);
      prepareSqliteFile(file);
      return new PrismaBetterSqlite3({ url: file, timeout: SQLITE_BUSY_TIMEOUT_MS });
    }
    case "postgresql":
      // A small pool per process: a worker needs a handful of connections, the server a few more.
      return new PrismaPg({ connectionString: url, max: env().TUNEBOARD_PG_POOL_MAX });
    default:
      throw new Error(`Unsupported provider ${provider satisfies never}`);
  }
}
