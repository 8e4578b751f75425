// Test support: a PostgreSQL server for the tests that run the queue on PostgreSQL.
// TUNEBOARD_TEST_PG_URL (set by .ci/run, which starts one) wins; otherwise a throwaway cluster is
// started once per test file with scripts/pg-test-server.mjs (Debian's postgresql package) and
// stopped by `stopTestPostgres()`. Without PostgreSQL installed the PostgreSQL tests are skipped,
// unless TUNEBOARD_REQUIRE_PG=1 (CI), where a missing server is a failure.
import { randomUUID } from "node:crypto";
import pg from "pg";
// @ts-expect-error plain .mjs helper without types
import { findPgBin, startPostgres } from "../../scripts/pg-test-server.mjs";

let started: { url: string; stop: () => void } | null = null;

export const postgresAvailable: boolean =
  Boolean(process.env.TUNEBOARD_TEST_PG_URL) || Boolean(findPgBin()) || process.env.TUNEBOARD_REQUIRE_PG === "1";

/** URL of the server's maintenance database (postgres). */
export async function testPostgresUrl(): Promise<string> {
  if (process.env.TUNEBOARD_TEST_PG_URL) return process.env.TUNEBOARD_TEST_PG_URL;
  started ??= await startPostgres();
  return started!.url;
}

export function stopTestPostgres(): void {
  started?.stop();
  started = null;
}

/** A fresh, empty database on the test server; `drop()` removes it (FORCE: open connections too). */
export async function createTestDatabase(prefix = "tuneboard_test"): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = await testPostgresUrl();
  const name = `${prefix}_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const exec = async (sql: string) => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await exec(`CREATE DATABASE "${name}"`);
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => exec(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}
